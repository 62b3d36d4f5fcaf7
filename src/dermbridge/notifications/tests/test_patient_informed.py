"""Patients kept informed (issue #9): one date per step, the clinician's own timescale over the
pathway's target, the hospital's name, phone number and the reference, words that match the
state, and the GP's email with a link to the referral."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from dermbridge.notifications.messages import patient_message, staff_message
from dermbridge.notifications.services import issue_status_link
from dermbridge.notifications.status import clinician_timescale, describe
from dermbridge.referrals import services as referrals
from dermbridge.referrals.models import ReferralKind, State
from dermbridge.testing import World, make_referral

pytestmark = pytest.mark.django_db

START = timezone.now().replace(microsecond=0)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("You will be seen within 2 weeks.", 14),
        ("We will see you within two weeks", 14),
        ("An appointment within a fortnight.", 14),
        ("in the next 10 days", 10),
        ("within 3 months", 90),
        ("Nothing about time.", None),
        ("within 0 weeks", None),
    ],
)
def test_it_reads_the_clinicians_own_timescale(text: str, days: int | None) -> None:
    found = clinician_timescale(text, START)
    assert found == (None if days is None else START + timedelta(days=days))


def test_working_days_count_as_working_days() -> None:
    monday = START - timedelta(days=START.weekday())  # a Monday
    found = clinician_timescale("within 5 working days", monday)
    assert found is not None and found.weekday() == 0 and found > monday + timedelta(days=6)


def _triage(
    referral: Any,
    user: Any,
    explanation: str,
    decision: str = "urgent_clinic",
    diagnosis: str = "372244006",
) -> None:
    referrals.record_outcome(
        referral,
        user=user,
        action="triage",
        diagnosis_code=diagnosis,
        management_plan="Urgent clinic.",
        advice_to_referrer="Seen in clinic.",
        patient_explanation=explanation,
        pathway_decision=decision,
    )


def test_the_clinicians_timescale_replaces_the_28_day_date(client: Client, world: World) -> None:
    """GIVEN a USC referral (28-day Faster Diagnosis date running)
    WHEN the dermatologist books an urgent clinic and tells the patient "within 2 weeks"
    THEN the page and the email give that one date, never the 28-day date beside it."""
    referral = make_referral(world, state=State.IN_REVIEW, kind=ReferralKind.URGENT_CANCER)
    referral.claimed_by = world.derek
    referral.save()
    fds = timezone.localtime(referral.due_at)
    _triage(referral, world.derek, "We would like to see you in clinic within 2 weeks.")
    referral.refresh_from_db()
    status = describe(referral)
    expected = timezone.localtime(referral.outcome.recorded_at + timedelta(days=14))
    assert status.by_when is not None
    assert timezone.localtime(status.by_when).date() == expected.date()
    assert status.when_label == "The skin specialist says this should happen by"

    page = client.get(issue_status_link(referral).removeprefix(settings.SITE_URL)).content.decode()
    assert f"{expected:%A} {expected.day} {expected:%B %Y}" in page
    assert f"{fds:%A} {fds.day} {fds:%B %Y}" not in page and page.count("<time") == 1
    _, body, _ = patient_message(referral, "outcome", "https://x/status/t/")  # type: ignore[misc]
    assert f"The skin specialist says this should happen by {expected:%A} {expected.day}" in body
    assert f"{fds:%A} {fds.day} {fds:%B %Y}" not in body


def test_without_a_timescale_a_usc_decision_keeps_the_28_day_date(world: World) -> None:
    referral = make_referral(world, state=State.IN_REVIEW, kind=ReferralKind.URGENT_CANCER)
    referral.claimed_by = world.derek
    referral.save()
    _triage(referral, world.derek, "We would like to see you in clinic.")
    referral.refresh_from_db()
    status = describe(referral)
    assert status.by_when == referral.due_at
    assert status.when_label == "You should be told whether or not you have cancer by"


def test_a_discharge_has_no_date(world: World) -> None:
    """'See your GP if it changes within 3 months' is not a hospital timescale."""
    referral = make_referral(world, state=State.IN_REVIEW)
    referral.claimed_by = world.derek
    referral.save()
    # A likely naevus: a suspected melanoma is never discharged (referrals/lesion_outcomes.py).
    _triage(
        referral,
        world.derek,
        "See your GP if it changes within 3 months.",
        "discharge",
        diagnosis="400182000",
    )
    referral.refresh_from_db()
    assert describe(referral).by_when is None


def test_the_words_follow_whether_a_specialist_has_opened_it(world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    assert describe(referral).stage.startswith("Your photos are waiting for a skin specialist")
    client = Client()
    client.force_login(world.sam)  # a service administrator is not a specialist
    client.get(f"/referrals/{referral.pk}/")
    assert describe(referral).stage.startswith("Your photos are waiting")
    client.force_login(world.derek)
    assert client.get(f"/referrals/{referral.pk}/").status_code == 200
    assert describe(referral).stage == "A skin specialist is looking at your photos"


def test_the_page_and_email_give_the_hospital_phone_and_reference(
    client: Client, world: World
) -> None:
    world.service.patient_phone = "0161 496 0000"
    world.service.patient_phone_hours = "Monday to Friday, 9am to 5pm"
    world.service.save()
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    page = client.get(issue_status_link(referral).removeprefix(settings.SITE_URL)).content.decode()
    assert f"Your reference: <strong>{referral.reference}</strong>" in page
    assert f"Call {world.service.name} on" in page
    assert 'href="tel:01614960000"' in page and "Monday to Friday, 9am to 5pm" in page
    _, body, sms = patient_message(referral, "submitted", "https://x/status/t/")  # type: ignore[misc]
    assert (
        f"call {world.service.name} on 0161 496 0000 (Monday to Friday, 9am to 5pm) "
        f"and give your reference, {referral.reference}" in body
    )
    assert referral.reference in sms


def test_without_a_phone_the_patient_is_sent_to_their_gp(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    page = client.get(issue_status_link(referral).removeprefix(settings.SITE_URL)).content.decode()
    assert "tel:" not in page.replace('href="tel:111"', "")
    assert f"Your referral is with {world.service.name}" in page and referral.reference in page


def test_the_gps_email_links_to_the_referral(world: World) -> None:
    referral = make_referral(world, state=State.TRIAGED)
    for event in ("outcome", "info_requested", "converted", "message"):
        subject, body = staff_message(referral, event)
        assert referral.reference in subject
        assert f"{settings.SITE_URL}/referrals/{referral.pk}/" in body
