"""Referral services: submission rules, clocks, worklist order, the more-information loop."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.core.errors import InvalidReferral, NotPermitted, TransitionNotAllowed
from dermbridge.imaging.models import ImageType
from dermbridge.referrals import clocks, services
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.testing import (
    DEFAULT_HISTORY,
    DEFAULT_LESION,
    attach_ready_image,
    make_patient,
    make_referral,
)

LONDON = ZoneInfo("Europe/London")


def test_it_counts_working_days_over_bank_holidays() -> None:
    """GIVEN a request sent on the Thursday before Easter 2026
    WHEN the 2-working-day A&G target is computed
    THEN Good Friday, the weekend and Easter Monday are skipped (due Wednesday)."""
    sent = datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)
    assert clocks.add_working_days(sent, 2) == datetime(2026, 4, 8, 10, 0, tzinfo=LONDON)
    assert not clocks.is_working_day(datetime(2026, 12, 25).date())
    assert clocks.working_days_between(sent.date(), datetime(2026, 4, 8).date()) == 2


def test_it_starts_the_right_clock_on_submission(world) -> None:
    """GIVEN referrals of each kind
    WHEN they are submitted
    THEN A&G is due in 2 working days, RAS in 5, and USC in 28 calendar days (FDS)."""
    ag = make_referral(world, kind=ReferralKind.ADVICE, state=State.SUBMITTED)
    usc = make_referral(world, kind=ReferralKind.URGENT_CANCER, state=State.SUBMITTED)
    ras = make_referral(world, kind=ReferralKind.TRIAGE, state=State.SUBMITTED)
    assert ag.submitted_at and usc.submitted_at and ras.submitted_at
    assert ag.due_at and ag.warn_at
    assert ag.due_at == clocks.add_working_days(ag.submitted_at, 2)
    assert ras.due_at == clocks.add_working_days(ras.submitted_at, 5)
    assert usc.due_at == usc.submitted_at + timedelta(days=28)
    assert usc.priority_rank == 0 and ras.priority_rank == 1
    assert ag.breach_status() == "ok"
    assert ag.breach_status(now=ag.due_at + timedelta(minutes=1)) == "breached"
    assert ag.breach_status(now=ag.warn_at + timedelta(minutes=1)) == "near"


def test_a_service_sets_its_own_targets(world) -> None:
    """GIVEN City Hospital answers A&G within 1 working day and triages within 3, warning 0 days
    ahead THEN its clocks use those targets; County Dermatology keeps the defaults."""
    world.service.ag_target_working_days = 1
    world.service.ras_target_working_days = 3
    world.service.near_breach_working_days = 0
    world.service.save()
    ag = make_referral(world, kind=ReferralKind.ADVICE, state=State.SUBMITTED)
    ras = make_referral(world, kind=ReferralKind.TRIAGE, state=State.SUBMITTED)
    assert ag.submitted_at and ras.submitted_at
    assert ag.due_at == clocks.add_working_days(ag.submitted_at, 1)
    assert ras.due_at == clocks.add_working_days(ras.submitted_at, 3)
    assert ag.warn_at == ag.due_at
    other = make_referral(
        world, kind=ReferralKind.ADVICE, state=State.SUBMITTED, service=world.service_b
    )
    assert other.submitted_at
    assert other.due_at == clocks.add_working_days(other.submitted_at, 2)


def test_it_orders_the_worklist_usc_first_then_ai_risk_then_breach(world) -> None:
    """GIVEN routine referrals with and without AI risk and a USC referral
    WHEN the service opens its worklist
    THEN USC comes first, then the highest AI risk, then no assessment by time to breach;
    other services' and drafts never appear."""
    low = make_referral(world, state=State.AWAITING_REVIEW)
    high = make_referral(world, state=State.AWAITING_REVIEW)
    none_ = make_referral(world, state=State.AWAITING_REVIEW)
    usc = make_referral(world, kind=ReferralKind.URGENT_CANCER, state=State.AWAITING_REVIEW)
    make_referral(world, state=State.DRAFT)
    make_referral(world, state=State.AWAITING_REVIEW, service=world.service_b)
    Referral.objects.filter(pk=low.pk).update(ai_risk=0.1, ai_sort=0.1)
    Referral.objects.filter(pk=high.pk).update(ai_risk=0.8, ai_sort=0.8)
    order = list(Referral.objects.worklist(world.service.pk).values_list("pk", flat=True))
    assert order == [usc.pk, high.pk, low.pk, none_.pk]


def test_it_refuses_an_incomplete_submission_and_changes_nothing(world) -> None:
    """GIVEN a draft with no dermoscopic image of a pigmented lesion and no question
    WHEN the referrer submits
    THEN it is refused with every problem named, and the referral is still a draft."""
    patient = make_patient(world.practice_a, world.alice)
    referral = services.create_referral(
        user=world.alice,
        patient=patient,
        kind=ReferralKind.URGENT_CANCER,
        service=world.service,
        referring_org=world.practice_a,
        history=DEFAULT_HISTORY,
        lesions=[DEFAULT_LESION],
    )
    attach_ready_image(referral.lesions.get(), ImageType.OVERVIEW, world.alice)
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidReferral) as exc:
        services.submit_referral(referral, user=world.alice)
    text = exc.value.message
    assert "question" in text and "close-up" in text and "dermoscopic" in text
    referral.refresh_from_db()
    assert referral.state == State.DRAFT and referral.submitted_at is None
    assert AuditEvent.objects.count() == events


def test_it_validates_lesions_and_creates_nothing_on_bad_input(world) -> None:
    """GIVEN a lesion with an unknown body site
    WHEN a referral is created
    THEN it is refused with the field named and no referral exists."""
    patient = make_patient(world.practice_a, world.alice)
    before = Referral.objects.count()
    with pytest.raises(InvalidReferral) as exc:
        services.create_referral(
            user=world.alice,
            patient=patient,
            kind="ras",
            service=world.service,
            referring_org=world.practice_a,
            lesions=[{**DEFAULT_LESION, "body_site_code": "123"}],
        )
    assert "lesions[1].body_site_code" in exc.value.field_errors
    assert Referral.objects.count() == before


def test_it_refuses_a_referral_from_another_practice(world) -> None:
    patient = make_patient(world.practice_a, world.alice)
    with pytest.raises(NotPermitted):
        services.create_referral(
            user=world.bob,
            patient=patient,
            kind="ras",
            service=world.service,
            referring_org=world.practice_a,
        )


def test_it_runs_the_more_information_loop(world) -> None:
    """GIVEN a referral in review
    WHEN the dermatologist asks for more information and the GP replies
    THEN the case returns to the worklist unclaimed, with both messages in the thread."""
    referral = make_referral(world, state=State.MORE_INFO_REQUESTED)
    with pytest.raises(NotPermitted):
        services.reply_with_information(referral, user=world.bob, body="hi")
    services.reply_with_information(referral, user=world.alice, body="Present for 6 months.")
    referral.refresh_from_db()
    assert referral.state == State.AWAITING_REVIEW and referral.claimed_by is None
    assert [m.kind for m in referral.messages.all()] == ["info_request", "info_reply"]


def test_it_converts_advice_to_an_urgent_referral_with_a_new_clock(world) -> None:
    """GIVEN an A&G request in review
    WHEN the dermatologist converts it to USC
    THEN it is a USC referral, back on the worklist, with the 28-day clock from now."""
    referral = make_referral(world, kind=ReferralKind.ADVICE, state=State.CONVERTED)
    assert referral.kind == ReferralKind.URGENT_CANCER and referral.converted_from == "ag"
    assert referral.due_at is not None
    assert referral.due_at > timezone.now() + timedelta(days=27)
    assert referral in Referral.objects.worklist(world.service.pk)
    services.claim(referral, user=world.derek)
    assert Referral.objects.get(pk=referral.pk).state == State.IN_REVIEW


def test_it_requires_the_told_date_before_closing_a_usc_referral(world) -> None:
    """FDS: the service must record the date the patient was told before closing."""
    referral = make_referral(world, kind=ReferralKind.URGENT_CANCER, state=State.TRIAGED)
    with pytest.raises(TransitionNotAllowed, match="patient was told"):
        services.close(referral, user=world.derek)
    with pytest.raises(InvalidReferral):
        services.record_patient_told(
            referral, user=world.derek, told_at=timezone.now() + timedelta(days=1), method="letter"
        )
    with pytest.raises(NotPermitted):
        services.record_patient_told(
            referral, user=world.alice, told_at=timezone.now(), method="letter"
        )
    services.record_patient_told(
        referral, user=world.derek, told_at=timezone.now(), method="telephone"
    )
    services.close(referral, user=world.derek)
    assert Referral.objects.get(pk=referral.pk).state == State.CLOSED


def test_it_flags_service_exclusions(world) -> None:
    """GIVEN a 12-year-old patient
    WHEN the referral is submitted
    THEN the exclusion is recorded for the reviewer (not silently dropped)."""
    child = make_patient(
        world.practice_a,
        world.alice,
        date_of_birth=timezone.localdate().replace(year=timezone.localdate().year - 12),
    )
    referral = make_referral(world, state=State.SUBMITTED, patient=child)
    assert "Patient is under 16" in referral.exclusion_reasons


def test_it_freezes_images_once_used_for_a_decision(world) -> None:
    referral = make_referral(world, state=State.TRIAGED)
    from dermbridge.imaging.models import LesionImage

    assert all(i.informed_decision for i in LesionImage.objects.filter(lesion__referral=referral))


def test_it_outcome_requires_coded_diagnosis(world) -> None:
    referral = make_referral(world, state=State.IN_REVIEW)
    with pytest.raises(InvalidReferral) as exc:
        services.record_outcome(
            referral,
            user=world.derek,
            action="triage",
            diagnosis_code="999",
            management_plan="",
            advice_to_referrer="x",
            patient_explanation="y",
            pathway_decision="discharge",
        )
    assert {"diagnosis_code", "management_plan"} <= set(exc.value.field_errors)
    assert Referral.objects.get(pk=referral.pk).state == State.IN_REVIEW
