"""HTML the worklist and the review page render once per process (the filter fields, the empty
outcome form, the empty message box) is what rendering it on each request would give."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from django.template.loader import render_to_string
from django.test import RequestFactory

from dermbridge.web.forms import OutcomeForm, TextForm, WorklistFilterForm
from dermbridge.web.views import referral, review


@pytest.mark.parametrize(
    "query",
    ["", "page=2", "kind=usc", "state=in_review&breach=near&mine=on", "ai_band=nonsense&kind=x"],
)
def test_the_filter_fields_are_those_of_the_request(query: str) -> None:
    request = RequestFactory().get("/worklist/?" + query)
    live = WorklistFilterForm(QueryDict(query) or None)
    expected = render_to_string("web/includes/worklist_filters.html", {"form": live})
    assert review._filter_fields_html(review._filter_values(request)) == expected
    if "nonsense" in query:
        assert "nhsuk-error-message" in expected


@pytest.mark.parametrize("advice_only", [True, False])
def test_the_empty_outcome_form_is_that_of_a_new_form(advice_only: bool) -> None:
    form = OutcomeForm(advice_only=advice_only)
    blank = referral._blank_outcome_html(advice_only)
    for part in ("decision", "texts"):
        live = render_to_string(f"web/includes/outcome_{part}.html", {"outcome_form": form})
        assert blank[part] == live
    assert 'name="pathway_decision"' in blank["decision"]  # each lesion's diagnosis: per case
    assert 'name="patient_explanation"' in blank["texts"]
    message = TextForm(label="Message")["text"]
    assert referral._blank_message_html() == render_to_string(
        "web/includes/field.html", {"field": message}
    )


@pytest.mark.parametrize("advice_only", [True, False])
def test_a_blank_lesion_fieldset_is_that_of_a_new_form(advice_only: bool) -> None:
    """The per-lesion fieldset kept per process (issue #14) is what the template renders."""
    from dermbridge.referrals.models import Lesion
    from dermbridge.web.forms import LesionOutcomeForm

    lesion = Lesion(number=2, body_site_code="45206002", laterality="left")
    form = LesionOutcomeForm(lesion=lesion, advice_only=advice_only)
    form.mark_errors()
    live = render_to_string("web/includes/outcome_lesions.html", {"lesion_forms": [form]})
    assert referral._blank_lesion_html(advice_only, 2, "45206002", "left") == live
    assert "Lesion 2: Nose (left)</legend>" in live and 'name="lesion-2-management"' in live
