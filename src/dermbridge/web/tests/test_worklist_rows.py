"""The worklist's rows, written in Python ({% worklist_rows %}), are the HTML the template
loop they replaced wrote, byte for byte, for every state, pathway, target status, quick action,
AI band and risk, exclusion count, reviewer and due date, with values that need escaping."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import re

import pytest
from django.template import Context, Template
from django.utils import timezone

from dermbridge.referrals.models import Referral, State, TargetStatus
from dermbridge.testing import World, make_referral
from dermbridge.triage import display as ai_display
from dermbridge.vocabulary.choices import ReferralKind

# The loop of web/worklist.html before it became {% worklist_rows rows %} (state_tags.html is
# still the include the referral pages use).
TEMPLATE_LOOP = """{% for r, breach, quick, band in rows %}
  <tr class="nhsuk-table__row" role="row">
    <td class="nhsuk-table__cell" role="cell"><span class="nhsuk-table-responsive__heading" aria-hidden="true">Reference </span><a href="{% url 'referral-detail' r.pk %}">{{ r.reference }}</a></td>
    <td class="nhsuk-table__cell" role="cell"><span class="nhsuk-table-responsive__heading" aria-hidden="true">Patient </span>{{ r.patient }}<br><span class="nhsuk-body-s">NHS {{ r.patient.formatted_nhs_number }}</span></td>
    <td class="nhsuk-table__cell" role="cell"><span class="nhsuk-table-responsive__heading" aria-hidden="true">Pathway and status </span>{{ r.get_kind_display }}<br>{% include "web/includes/state_tags.html" %}{% if r.exclusion_reasons %} <strong class="nhsuk-tag nhsuk-tag--yellow">{{ r.exclusion_reasons|length }} exclusion{{ r.exclusion_reasons|length|pluralize }}</strong>{% endif %}</td>
    <td class="nhsuk-table__cell" role="cell"><span class="nhsuk-table-responsive__heading" aria-hidden="true">AI risk </span><strong class="nhsuk-tag nhsuk-tag--{{ band.tag }}">{{ band.label }}</strong>{% if r.ai_risk is not None %} <span class="nhsuk-body-s">{% if band.key == "declined" %}(another photo: {% endif %}{% widthratio r.ai_risk 1 100 %}% chance of cancer or pre-cancer{% if band.key == "declined" %}){% endif %}</span>{% endif %}</td>
    <td class="nhsuk-table__cell" role="cell"><span class="nhsuk-table-responsive__heading" aria-hidden="true">Due </span>{{ r.due_at|date:"j M H:i" }}</td>
    <td class="nhsuk-table__cell" role="cell"><span class="nhsuk-table-responsive__heading" aria-hidden="true">Reviewer </span>{{ r.claimed_by|default:"–" }}
      {% if quick %}<form method="post" action="{% url 'referral-act' r.pk quick %}">{% csrf_token %}{% once_token %}<button class="nhsuk-button nhsuk-button--secondary nhsuk-button--small" type="submit">{% if quick == "claim" %}Start review{% else %}Return to worklist{% endif %}<span class="nhsuk-u-visually-hidden"> {{ r.reference }}</span></button></form>{% endif %}</td>
  </tr>
  {% endfor %}"""


def _rows(world: World) -> list[tuple[Referral, str, str, ai_display.Band]]:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    base = Referral.objects.select_related("patient", "claimed_by").get(pk=referral.pk)
    base.patient.given_name = '<b>O\'Brien</b> & "Co"'
    base.reference = "DB-<X&Y>"
    rows = []
    variants = itertools.product(
        list(State),
        list(ReferralKind),
        ["", TargetStatus.BREACHED, TargetStatus.NEAR],
        ["", "claim", "release"],
    )
    bands = list(ai_display.BANDS.values())
    risks = [None, 0.0, 0.125, 0.5, 0.995, 1.0, 0.00499]
    exclusions: list[list[str]] = [[], ["pregnant"], ["pregnant", "under 18"]]
    due = [None, timezone.now(), dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)]
    for i, (state, kind, breach, quick) in enumerate(variants):
        r = copy.copy(base)
        r.pk = r.id = 1000 + i
        r.state, r.kind = state, kind
        r.ai_risk = risks[i % len(risks)]
        r.exclusion_reasons = exclusions[i % len(exclusions)]
        r.due_at = due[i % len(due)]
        r.claimed_by = world.derek if i % 2 else None
        rows.append((r, str(breach), quick, bands[i % len(bands)]))
    return rows


def _without_once_tokens(html: str) -> str:
    return re.sub(r'name="_once" value="[^"]+"', 'name="_once" value="-"', html)


def test_the_rows_are_the_html_the_template_wrote(world: World) -> None:
    rows = _rows(world)
    context = {
        "rows": rows,
        "csrf_token": "a-csrf-token-<&>",
        "target_labels": dict(TargetStatus.choices),
    }
    expected = Template(TEMPLATE_LOOP).render(Context(context))
    got = Template("{% load worklist_rows %}{% worklist_rows rows %}").render(Context(context))
    assert len(rows) > 200
    assert "&lt;b&gt;O&#x27;Brien&lt;/b&gt;" in got and "<b>" not in got
    assert _without_once_tokens(got) == _without_once_tokens(expected)
    assert got.count('name="_once"') == sum(1 for *_, quick, _ in rows if quick)


@pytest.mark.filterwarnings("ignore:Calling format_html:DeprecationWarning")  # Django's own tag
def test_without_a_csrf_token_no_field_is_written(world: World) -> None:
    rows = [row for row in _rows(world) if row[2]][:3]
    for token in (None, "NOTPROVIDED"):
        context: dict[str, object] = {"rows": rows, "csrf_token": token, "target_labels": {}}
        if token is None:
            del context["csrf_token"]
        expected = Template(TEMPLATE_LOOP).render(Context(context))
        got = Template("{% load worklist_rows %}{% worklist_rows rows %}").render(Context(context))
        assert "csrfmiddlewaretoken" not in got
        assert _without_once_tokens(got) == _without_once_tokens(expected)
