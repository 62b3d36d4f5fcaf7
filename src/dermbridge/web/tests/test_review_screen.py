"""The dermatologist's screen (issue #9, item 6): the outcome form beside the photos, "Save and
next case", declined vs no dermoscopic photo on the page and the worklist, the diagnosis worded
"suspected"/"likely" to the GP until histology, and the service's patient-explanation templates."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.test import Client

from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.referrals import outcomes
from dermbridge.referrals.models import ExplanationTemplate, Outcome, Referral, State
from dermbridge.referrals.terminology import DIAGNOSES, working_diagnosis
from dermbridge.testing import World, make_referral
from dermbridge.triage.models import Assessment
from dermbridge.triage.services import update_referral_risk
from dermbridge.web.tests.outcome_support import outcome_post

OUTCOME = {
    "diagnosis_code": "372244006",
    "management_plan": "Urgent excision biopsy.",
    "advice_to_referrer": "Suspected melanoma: seen in the urgent clinic.",
    "patient_explanation": "We would like to see you soon to look at this mark more closely.",
    "pathway_decision": "urgent_clinic",
}


def _assess(referral: Referral, *, p: float | None, band: str = "") -> Assessment:
    image = LesionImage.objects.get(lesion__referral=referral, image_type=ImageType.DERMOSCOPIC)
    assessment = Assessment.objects.create(
        image=image,
        model_version="triage-v2",
        input_sha256="0" * 64,
        probabilities={} if p is None else {"mel": p, "nv": 1 - p},
        malignant_probability=p,
        malignant_interval=[] if p is None else [max(0.0, p - 0.1), min(1.0, p + 0.1)],
        band=band,
        abstained=p is None,
        abstention_reason="The photo is unlike the dermoscopic photos the AI knows."
        if p is None
        else "",
    )
    update_referral_risk(referral.pk)
    return assessment


def test_the_outcome_form_sits_beside_the_photos_and_records_there(
    client: Client, world: World
) -> None:
    referral = make_referral(world, state=State.IN_REVIEW)
    client.force_login(world.derek)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    case, form = page.index('class="db-review__case"'), page.index('id="outcome"')
    assert case < page.index("data-viewer") < form  # photos, then the form beside them
    assert "db-wide" in page and ">Record decision<" in page and ">Save and next case<" in page
    # No button leads away to a separate outcome page any more.
    assert f'href="/referrals/{referral.pk}/outcome/"' not in page
    # The picker groups the coded list (usable without JavaScript) and is still searchable.
    assert '<optgroup label="Skin cancer and pre-cancer">' in page and "data-filterable" in page
    assert len(DIAGNOSES) >= 25
    response = client.post(f"/referrals/{referral.pk}/outcome/", outcome_post(referral, OUTCOME))
    assert response.status_code == 302 and response["Location"] == f"/referrals/{referral.pk}/"
    referral.refresh_from_db()
    assert referral.state == State.TRIAGED


def test_a_refused_outcome_comes_back_on_the_review_page_naming_the_field(
    client: Client, world: World
) -> None:
    referral = make_referral(world, state=State.IN_REVIEW)
    client.force_login(world.derek)
    response = client.post(
        f"/referrals/{referral.pk}/outcome/",
        outcome_post(referral, {**OUTCOME, "management_plan": ""}),
    )
    body = response.content.decode()
    assert response.status_code == 200 and "There is a problem" in body
    assert 'href="#id_management_plan"' in body and "data-viewer" in body
    assert "Suspected melanoma: seen in the urgent clinic." in body  # nothing typed is lost
    assert not Outcome.objects.filter(referral=referral).exists()


def test_save_and_next_case_claims_the_next_case_of_the_worklist(
    client: Client, world: World
) -> None:
    first = make_referral(world, state=State.IN_REVIEW)
    following = make_referral(world, state=State.AWAITING_REVIEW)
    elsewhere = make_referral(world, state=State.AWAITING_REVIEW, service=world.service_b)
    client.force_login(world.derek)
    response = client.post(
        f"/referrals/{first.pk}/outcome/", outcome_post(first, {**OUTCOME, "then": "next"})
    )
    assert response.status_code == 302
    assert response["Location"] == f"/referrals/{following.pk}/"
    following.refresh_from_db()
    elsewhere.refresh_from_db()
    assert following.state == State.IN_REVIEW and following.claimed_by == world.derek
    assert elsewhere.state == State.AWAITING_REVIEW  # another service's case is never taken
    assert AuditEvent.objects.filter(action__contains="claim", object_id=str(following.pk)).exists()
    page = client.get(response["Location"]).content.decode()
    assert f"Next case: {following.reference}" in page and 'id="outcome"' in page
    # The last case: back to the worklist, saying there is nothing left.
    done = client.post(
        f"/referrals/{following.pk}/outcome/", outcome_post(following, {**OUTCOME, "then": "next"})
    )
    assert done["Location"] == "/worklist/"
    assert "No more cases are waiting" in client.get("/worklist/").content.decode()


def test_next_case_passes_over_a_case_someone_else_holds(world: World) -> None:
    taken = make_referral(world, state=State.IN_REVIEW)  # derek's colleague holds it
    Referral.objects.filter(pk=taken.pk).update(claimed_by=world.sam)
    free = make_referral(world, state=State.AWAITING_REVIEW)
    assert outcomes.next_case(world.derek, world.service.pk) == free
    assert outcomes.next_case(world.alice, world.service.pk) is None  # not a dermatologist there


def test_declined_and_no_photo_are_told_apart_and_declined_sorts_above_low(
    client: Client, world: World
) -> None:
    low = make_referral(world, state=State.AWAITING_REVIEW)
    _assess(low, p=0.01, band="low")
    intermediate = make_referral(world, state=State.AWAITING_REVIEW)
    _assess(intermediate, p=0.2, band="intermediate")
    declined = make_referral(world, state=State.AWAITING_REVIEW)
    _assess(declined, p=None)
    no_photo = make_referral(world, state=State.AWAITING_REVIEW)
    LesionImage.objects.filter(lesion__referral=no_photo, image_type=ImageType.DERMOSCOPIC).update(
        image_type=ImageType.CLOSE_UP
    )  # a case with no dermoscopic photo
    client.force_login(world.derek)
    page = client.get("/worklist/").content.decode()
    order = [page.index(r.reference) for r in (declined, intermediate, low, no_photo)]
    assert order == sorted(order)
    assert 'nhsuk-tag--purple">AI declined to assess</strong>' in page
    assert 'nhsuk-tag--grey">No dermoscopic photo</strong>' in page
    only = client.get("/worklist/?ai_band=declined").content.decode()
    assert declined.reference in only and no_photo.reference not in only
    assert low.reference not in only
    review = client.get(f"/referrals/{declined.pk}/").content.decode()
    assert "AI declined to assess" in review and "unlike the dermoscopic photos" in review
    review = client.get(f"/referrals/{no_photo.pk}/").content.decode()
    assert 'nhsuk-tag--grey">No dermoscopic photo</strong>' in review
    # A dermoscopic photo the AI has not read (yet, or the model is unavailable) is neither.
    pending = make_referral(world, state=State.AWAITING_REVIEW)
    listed = client.get("/worklist/?ai_band=pending").content.decode()
    assert pending.reference in listed and no_photo.reference not in listed
    assert 'nhsuk-tag--white">Not assessed by the AI yet</strong>' in listed
    none = client.get("/worklist/?ai_band=none").content.decode()
    assert no_photo.reference in none and pending.reference not in none
    review = client.get(f"/referrals/{pending.pk}/").content.decode()
    assert 'nhsuk-tag--white">Not assessed by the AI yet</strong>' in review
    assert "AI declined to assess</strong>" not in review.split("What each AI result means")[0]


def test_the_gp_is_told_a_suspected_diagnosis_until_histology(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.IN_REVIEW)
    client.force_login(world.derek)
    client.post(f"/referrals/{referral.pk}/outcome/", outcome_post(referral, OUTCOME))
    client.force_login(world.alice)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Suspected malignant melanoma" in page and ">Malignant melanoma<" not in page
    outcome = Outcome.objects.get(referral=referral)
    assert (
        outcome.diagnosis_label
        == working_diagnosis("372244006")
        == ("Suspected malignant melanoma")
    )
    assert working_diagnosis("400182000") == "Likely melanocytic naevus"
    outcome.histology_code = "372244006"
    outcome.save()
    assert outcome.diagnosis_label == "Malignant melanoma (confirmed by histology)"


def test_the_service_admin_manages_explanations_and_the_dermatologist_uses_one(
    client: Client, world: World
) -> None:
    client.force_login(world.sam)
    empty = client.post("/service/explanations/", {"title": "", "text": ""})
    assert empty.status_code == 400 and 'href="#id_title"' in empty.content.decode()
    client.post(
        "/service/explanations/",
        {"title": "Benign mole", "text": "This looks like a harmless mole."},
    )
    template = ExplanationTemplate.objects.get(service=world.service, title="Benign mole")
    assert AuditEvent.objects.filter(action="explanation_template.create").exists()
    duplicate = client.post("/service/explanations/", {"title": "benign MOLE", "text": "x"})
    assert duplicate.status_code == 400 and "already has this title" in duplicate.content.decode()
    client.post(
        f"/service/explanations/{template.pk}/",
        {"title": "Benign mole", "text": "This is likely a harmless mole."},
    )
    template.refresh_from_db()
    assert template.text == "This is likely a harmless mole."
    # Another service's administrator and a dermatologist cannot see or change it.
    for outsider in (world.dora, world.derek, world.alice):
        client.force_login(outsider)
        assert client.get(f"/service/explanations/{template.pk}/").status_code == 404
        assert client.post(f"/service/explanations/{template.pk}/remove/").status_code == 404
    template.refresh_from_db()
    assert template.active

    referral = make_referral(world, state=State.IN_REVIEW)
    client.force_login(world.derek)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Start from a saved explanation" in page and "Benign mole" in page
    used = client.post(
        f"/referrals/{referral.pk}/outcome/",
        outcome_post(
            referral,
            {**OUTCOME, "patient_explanation": "", "template": template.pk, "use_template": "1"},
        ),
    )
    body = used.content.decode()
    assert used.status_code == 200 and "This is likely a harmless mole.</textarea>" in body
    assert "Suspected melanoma: seen in the urgent clinic." in body  # the rest is kept
    assert not Outcome.objects.filter(referral=referral).exists()  # nothing saved yet
    bad = client.post(
        f"/referrals/{referral.pk}/outcome/",
        outcome_post(referral, {**OUTCOME, "template": "999999", "use_template": "1"}),
    )
    assert bad.status_code == 400 and "choose one of the service" in bad.content.decode()

    client.force_login(world.sam)
    client.post(f"/service/explanations/{template.pk}/remove/")
    template.refresh_from_db()
    assert not template.active
    client.force_login(world.derek)
    assert ">Benign mole</option>" not in client.get(f"/referrals/{referral.pk}/").content.decode()


def test_the_migration_recomputes_existing_sort_keys(world: World) -> None:
    """Migration 0003 puts cases the AI declined above intermediate, in existing data."""
    declined = make_referral(world, state=State.AWAITING_REVIEW)
    _assess(declined, p=None)
    high = make_referral(world, state=State.AWAITING_REVIEW)
    _assess(high, p=0.8, band="high")
    # As the old code left them: declined had no band and sorted last; high sorted by its risk.
    Referral.objects.filter(pk=declined.pk).update(ai_band="", ai_sort=-1.0)
    Referral.objects.filter(pk=high.pk).update(ai_sort=0.8)
    migration = importlib.import_module(
        "dermbridge.referrals.migrations.0003_explanation_templates_and_ai_declined_sort"
    )
    migration.recompute_ai_sort(apps, None)
    declined.refresh_from_db()
    high.refresh_from_db()
    assert declined.ai_band == "declined" and declined.ai_sort == 3.5
    assert high.ai_band == "high" and high.ai_sort == 4.8
    migration.old_ai_sort(apps, None)  # and back
    declined.refresh_from_db()
    high.refresh_from_db()
    assert declined.ai_sort == -1.0 and high.ai_sort == 0.8
