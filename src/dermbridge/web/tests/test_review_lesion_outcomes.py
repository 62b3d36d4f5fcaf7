"""The review page records an outcome for every lesion (issue #14 item 1): one fieldset per
lesion labelled with its body site, every value kept and each error on its own field when the
answer is refused; the GP's page, the patient's status page and the API cover every lesion;
nobody but the reviewing dermatologist records it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.test import Client
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.notifications.services import issue_status_link
from dermbridge.personas import DEFAULT_LESION
from dermbridge.referrals.models import LesionOutcome, Outcome, Referral, State
from dermbridge.referrals.tests.api_support import api_client
from dermbridge.testing import World, make_referral

NOSE = {**DEFAULT_LESION, "body_site_code": "45206002", "laterality": "", "pigmented": False}
TEXTS = {
    "management_plan": "Back: monitor. Nose: biopsy.",
    "advice_to_referrer": "The back is a benign naevus; the nose needs a biopsy.",
    "patient_explanation": "The mole on your back looks harmless. We will test the mark on your nose.",
}


def _case(world: World) -> Referral:
    return make_referral(world, state=State.IN_REVIEW, lesions=[DEFAULT_LESION, NOSE])


def _answer(review_date: str, **over: Any) -> dict[str, Any]:
    return {
        **TEXTS,
        "lesion-1-diagnosis_code": "400182000",
        "lesion-1-management": "monitor",
        "lesion-1-review_date": review_date,
        "lesion-2-diagnosis_code": "254701007",
        "lesion-2-differential_1": "254651007",
        "lesion-2-management": "biopsy",
        **over,
    }


def test_one_fieldset_per_lesion_labelled_with_its_body_site(client: Client, world: World) -> None:
    referral = _case(world)
    client.force_login(world.derek)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Lesion 1: Back (left)</legend>" in page and "Lesion 2: Nose</legend>" in page
    assert 'name="lesion-1-diagnosis_code"' in page and 'name="lesion-2-management"' in page
    assert 'name="lesion-2-review_date"' in page and 'type="date"' in page


def test_a_refused_answer_keeps_every_value_and_names_each_field(
    client: Client, world: World
) -> None:
    referral = _case(world)
    client.force_login(world.derek)
    response = client.post(
        f"/referrals/{referral.pk}/outcome/",
        _answer("", **{"lesion-2-diagnosis_code": "372244006", "lesion-2-management": "discharge"}),
    )
    body = response.content.decode()
    assert response.status_code == 400 and "There is a problem" in body
    assert (
        'href="#id_lesion-1-review_date"' in body
        and "Lesion 1 (Back): enter the review date" in body
    )
    assert 'href="#id_lesion-2-management"' in body and "is not discharged or monitored" in body
    # Nothing typed is lost: the texts, each lesion's choices.
    assert TEXTS["advice_to_referrer"] in body
    assert '<option value="372244006" selected>' in body
    management = re.search(r'name="lesion-1-management".*?</select>', body, re.DOTALL)
    assert management and '<option value="monitor" selected>' in management.group(0)
    assert not Outcome.objects.filter(referral=referral).exists()
    assert not LesionOutcome.objects.filter(lesion__referral=referral).exists()


def test_the_answer_for_every_lesion_reaches_the_gp_the_patient_and_the_api(
    client: Client, world: World
) -> None:
    referral = _case(world)
    review = (timezone.localdate() + timedelta(days=90)).isoformat()
    client.force_login(world.derek)
    response = client.post(f"/referrals/{referral.pk}/outcome/", _answer(review))
    assert response.status_code == 302
    outcome = Outcome.objects.get(referral=referral)
    assert outcome.pathway_decision == "urgent_clinic"  # SCC on the nose's differential
    request_id = f"BX-{referral.reference.removeprefix('DB-')}-2"
    assert (
        LesionOutcome.objects.get(lesion__number=2, lesion__referral=referral).biopsy_request_id
        == request_id
    )

    client.force_login(world.alice)  # the GP's copy of the answer
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Likely melanocytic naevus" in page and "Suspected basal cell carcinoma of skin" in page
    assert "Differential: Squamous cell carcinoma of skin" in page and request_id in page
    assert "Monitor, with a review date by" in page

    link = issue_status_link(referral).removeprefix(settings.SITE_URL)
    status = Client().get(link).content.decode()
    assert "Mark 1: left back" in status and "Mark 2: nose" in status
    assert "check it again by" in status and "a biopsy" in status

    api = api_client(world.alice).get(f"/api/referrals/{referral.reference}/outcome/").json()
    assert [(row["lesion"], row["management"]) for row in api["lesions"]] == [
        (1, "monitor"),
        (2, "biopsy"),
    ]
    assert api["lesions"][1]["biopsy_request_id"] == request_id
    assert api["lesions"][1]["differential"] == ["254651007"]


def test_the_api_records_each_lesion_and_names_the_field_it_refuses(world: World) -> None:
    referral = _case(world)
    api = api_client(world.derek)
    url = f"/api/referrals/{referral.reference}/triage/"
    api.post(f"/api/referrals/{referral.reference}/claim/")  # already claimed: harmless
    refused = api.post(
        url,
        {
            **TEXTS,
            "lesions": [{"lesion": 1, "diagnosis_code": "400182000", "management": "monitor"}],
        },
        format="json",
    )
    assert refused.status_code == 400
    errors = refused.json()["errors"]
    assert "lesions[1].review_date" in errors and "lesions[2].diagnosis_code" in errors
    done = api.post(
        url,
        {
            **TEXTS,
            "lesions": [
                {"lesion": 1, "diagnosis_code": "400182000", "management": "discharge"},
                {"lesion": 2, "diagnosis_code": "254701007", "management": "excision"},
            ],
        },
        format="json",
    )
    assert done.status_code == 200, done.json()
    assert Outcome.objects.get(referral=referral).pathway_decision == "surgery"


def test_nobody_else_records_or_sees_the_lesion_outcomes(client: Client, world: World) -> None:
    referral = _case(world)
    review = (timezone.localdate() + timedelta(days=90)).isoformat()
    # Another organisation's dermatologist: the case does not exist for her.
    client.force_login(world.dora)
    assert client.post(f"/referrals/{referral.pk}/outcome/", _answer(review)).status_code == 404
    assert client.get(f"/referrals/{referral.pk}/").status_code == 404
    assert (
        api_client(world.dora).get(f"/api/referrals/{referral.reference}/outcome/").status_code
        == 404
    )
    assert (
        api_client(world.bob).get(f"/api/referrals/{referral.reference}/outcome/").status_code
        == 404
    )
    # The GP, the photographer, the service administrator: they may see the case but not answer.
    for user in (world.alice, world.pat, world.sam, world.bob):
        client.force_login(user)
        response = client.post(f"/referrals/{referral.pk}/outcome/", _answer(review))
        assert response.status_code in (302, 404), user
    # A patient holding a status link, or anyone signed out: sent to sign in.
    anonymous = Client().post(f"/referrals/{referral.pk}/outcome/", _answer(review))
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    assert not LesionOutcome.objects.filter(lesion__referral=referral).exists()
    # The dermatologist's reading of the page is audited.
    client.force_login(world.derek)
    client.get(f"/referrals/{referral.pk}/")
    assert AuditEvent.objects.filter(
        action="referral.view", object_id=str(referral.pk), actor_id=world.derek.pk
    ).exists()


def test_a_posted_letter_covers_every_lesion(world: World) -> None:
    from dermbridge.notifications.messages import patient_message

    referral = _case(world)
    review = (timezone.localdate() + timedelta(days=90)).isoformat()
    client = Client()
    client.force_login(world.derek)
    client.post(f"/referrals/{referral.pk}/outcome/", _answer(review))
    referral.refresh_from_db()
    _, letter, _ = patient_message(referral, "outcome", "https://x/s/t", letter=True)  # type: ignore[misc]
    assert "- Mark 1: left back: Likely melanocytic naevus." in letter
    assert "- Mark 2: nose: Suspected basal cell carcinoma of skin. A small sample" in letter
    _, email, _ = patient_message(referral, "outcome", "https://x/s/t")  # type: ignore[misc]
    assert "Mark 1" not in email  # the email stays short: the status page has the detail
