"""The patient status page: one referral, plain English, behind an unguessable expiring link."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.notifications.models import PatientStatusLink
from dermbridge.notifications.services import issue_status_link
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.testing import World, make_patient, make_referral

pytestmark = pytest.mark.django_db

PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    # Never sent to another site; same-origin so that the page's own forms carry an Origin
    # the CSRF check accepts (the photography appointment's confirm and rebook).
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
}


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def assert_private(response: object) -> None:
    for name, value in PRIVATE_HEADERS.items():
        assert response[name] == value, name  # type: ignore[index]


def forbidden_text(referral: Referral, world: World) -> list[str]:
    """Everything the status page must never show."""
    patient = referral.patient
    return [
        patient.nhs_number,
        patient.formatted_nhs_number,
        patient.family_name,
        patient.email,
        referral.clinical_question,
        "Irregular pigmented macule",
        "Melanocytic naevus",
        "Monitor; photograph",
        "Benign naevus",
        world.derek.get_full_name(),
        "derek",
        world.alice.get_full_name(),
        world.practice_a.name,
        "<img",
    ]


def test_it_shows_the_pathway_the_next_step_and_the_date(client: Client, world: World) -> None:
    """GIVEN a submitted referral triage WHEN the patient opens their link without logging in
    THEN they see their pathway, what happens next and by when, and nothing else."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    response = client.get(path_of(issue_status_link(referral)))

    assert response.status_code == 200
    assert_private(response)
    page = response.content.decode()
    assert "You have been referred to the skin (dermatology) service" in page
    # Nobody at the hospital has opened it yet: the words say so.
    assert "Your photos are waiting for a skin specialist to look at them" in page
    assert "is looking at your photos" not in page
    due = timezone.localtime(referral.due_at)
    assert "The skin specialist aims to reply by\n        <strong><time" in page
    assert f"{due:%A} {due.day} {due:%B %Y}" in page
    assert page.count("<time") == 1  # one date for the step, never two
    for text in forbidden_text(referral, world):
        assert text not in page, text


def test_a_referral_for_photography_at_a_hub_says_the_hub_photographs_first(
    client: Client, world: World
) -> None:
    """GIVEN a GP's referral for photography at a community hub, not sent yet (the photos come
    first) WHEN the patient opens their link THEN the page says the hub will photograph their
    skin and offer an appointment, not that the GP practice is preparing it."""
    referral = make_referral(world)
    Referral.objects.filter(pk=referral.pk).update(imaging_hub=world.hub)
    referral.refresh_from_db()
    page = client.get(path_of(issue_status_link(referral))).content.decode()
    assert f"{world.hub.name} will photograph your skin" in page
    assert "offer you an appointment" in page
    assert "Your GP practice is preparing the referral" not in page


def test_it_shows_the_patient_explanation_once_there_is_an_outcome(
    client: Client, world: World
) -> None:
    """GIVEN a triaged referral WHEN the patient opens the link THEN they see the decision in
    plain English and the dermatologist's explanation for them, not the diagnosis or plan."""
    referral = make_referral(world, state=State.TRIAGED)
    page = client.get(path_of(issue_status_link(referral))).content.decode()

    assert "The skin specialist has made a decision" in page
    assert "does not think you need a hospital appointment" in page
    assert "This is a harmless mole." in page
    for text in forbidden_text(referral, world):
        assert text not in page, text


def test_it_shows_an_urgent_referral_when_the_patient_will_be_told(
    client: Client, world: World
) -> None:
    """GIVEN an urgent suspected cancer referral WHEN the patient opens the link
    THEN they are told they will hear whether or not they have cancer by the 28-day date."""
    referral = make_referral(world, state=State.AWAITING_REVIEW, kind=ReferralKind.URGENT_CANCER)
    page = client.get(path_of(issue_status_link(referral))).content.decode()
    assert "referred urgently to check for skin cancer" in page
    assert "whether or not you have cancer" in page


def test_it_never_shows_another_referral(client: Client, world: World) -> None:
    """GIVEN a practice A patient with two referrals, one answered, and a practice B referral
    WHEN the patient opens the link for the unanswered one THEN only that one is described."""
    patient = make_patient(world.practice_a, world.alice)
    waiting = make_referral(world, state=State.AWAITING_REVIEW, patient=patient)
    make_referral(world, state=State.TRIAGED, patient=patient)
    make_referral(world, state=State.TRIAGED, referrer=world.bob)

    page = client.get(path_of(issue_status_link(waiting))).content.decode()
    assert "Your photos are waiting for a skin specialist" in page
    assert "harmless mole" not in page
    assert "made a decision" not in page
    assert Referral.objects.exclude(pk=waiting.pk).count() == 2
    for other in Referral.objects.exclude(pk=waiting.pk):
        assert other.reference not in page


def test_it_shows_a_signed_in_clinician_no_more_than_the_patient(
    client: Client, world: World
) -> None:
    """GIVEN bob of another practice is signed in WHEN he opens a practice A patient's link or a
    guessed one THEN he sees exactly the patient's page, or the ordinary 404."""
    referral = make_referral(world, state=State.TRIAGED)
    path = path_of(issue_status_link(referral))
    anonymous = client.get(path).content
    client.force_login(world.bob)
    assert client.get(path).content == anonymous
    assert client.get("/status/" + "B" * 43 + "/").status_code == 404


def test_it_audits_every_open_as_a_system_read(client: Client, world: World) -> None:
    """GIVEN a status link WHEN it is opened twice THEN two status.view events with no actor
    are recorded against the referral."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    path = path_of(issue_status_link(referral))
    client.get(path)
    client.get(path)
    events = AuditEvent.objects.filter(action="status.view")
    assert events.count() == 2
    assert {(e.actor_id, e.actor_label, e.object_id) for e in events} == {
        (None, "system", str(referral.pk))
    }
    opened = PatientStatusLink.objects.filter(referral=referral, last_opened_at__isnull=False)
    assert opened.count() == 1


def test_it_stores_only_a_hash_of_an_unguessable_token(world: World) -> None:
    """GIVEN a new link THEN the token carries 256 bits, is stored only as its SHA-256, and
    expires after PATIENT_LINK_DAYS."""
    referral = make_referral(world, state=State.DRAFT)
    with override_settings(PATIENT_LINK_DAYS=14):
        token = token_of(issue_status_link(referral))
    link = PatientStatusLink.objects.get(referral=referral)
    assert len(token) == 43
    assert link.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    stored = [str(v) for v in PatientStatusLink.objects.filter(pk=link.pk).values().get().values()]
    assert token not in stored
    assert abs(link.expires_at - (timezone.now() + timedelta(days=14))) < timedelta(minutes=1)


@pytest.mark.parametrize("kind", ["unknown", "malformed", "expired", "one-char-off"])
def test_it_gives_one_helpful_404_for_a_bad_link(client: Client, world: World, kind: str) -> None:
    """GIVEN a link that is unknown, malformed, expired or one character off
    WHEN it is opened THEN the response is a 404 with help for the patient, byte for byte the
    same whatever the link (so it reveals nothing), nothing of the referral shows and nothing is
    audited as a view."""
    referral = make_referral(world, state=State.TRIAGED)
    token = token_of(issue_status_link(referral))
    bad = {
        "unknown": "A" * 43,
        "malformed": "not-a-token<script>",
        "expired": token,
        "one-char-off": token[:-1] + ("A" if token[-1] != "A" else "B"),
    }[kind]
    if kind == "expired":
        PatientStatusLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.get(f"/status/{bad}/")
    never_issued = client.get("/status/" + "Z" * 43 + "/")
    assert response.status_code == never_issued.status_code == 404
    assert response.content == never_issued.content
    page = response.content.decode()
    assert "This link does not work" in page
    assert f"Links stop working after {settings.PATIENT_LINK_DAYS} days" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "notifications/status" in page and "tel:111" in page  # styled, with help
    assert bad not in page and referral.reference not in page
    assert world.service.name not in page
    for text in forbidden_text(referral, world):
        assert text not in page, text
    assert_private(response)
    assert not AuditEvent.objects.filter(action="status.view").exists()


def test_it_is_a_simple_accessible_page(client: Client, world: World) -> None:
    """The page declares its language and viewport, has one heading level 1, and needs no
    script, inline style or image (so it works on any phone and under the CSP)."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    page = client.get(path_of(issue_status_link(referral))).content.decode()
    assert '<html lang="en-GB">' in page
    assert 'name="viewport"' in page
    assert page.count("<h1") == 1
    for absent in ("<script", "style=", "<img", "<form"):
        assert absent not in page
    assert client.post(path_of(issue_status_link(referral))).status_code == 405
