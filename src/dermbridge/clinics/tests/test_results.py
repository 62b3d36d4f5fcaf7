"""The result clock after a hub visit (issue #13 item 5): due HUB_RESULT_WORKING_DAYS working
days after the visit (default 21), near-breach warning once, shown on the worklist and the
review page beside the 28-day standard, stopped by the dermatologist's answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import results, services, tasks
from dermbridge.clinics.models import Appointment
from dermbridge.clinics.tests.support import Hub, clinic_today, hub_referral, make_hub
from dermbridge.clinics.tests.support import ready_to_attend as ready
from dermbridge.notifications.models import OutboxMessage
from dermbridge.referrals import services as referral_services
from dermbridge.referrals.clocks import working_days_between
from dermbridge.referrals.models import Referral, ReferralKind
from dermbridge.referrals.targets import result_clock
from dermbridge.testing import World

LONDON = ZoneInfo("Europe/London")


def test_the_clock_counts_working_days_skipping_bank_holidays() -> None:
    # Visit on Thursday 18 December 2025: 21 working days skip Christmas, Boxing Day and New
    # Year's Day, and the weekends: due Wednesday 21 January 2026; warned a working day before.
    start = datetime(2025, 12, 18, 10, 0, tzinfo=LONDON)
    due, warn = result_clock(start, 21, 1)
    assert due == datetime(2026, 1, 21, 10, 0, tzinfo=LONDON)
    assert working_days_between(start.date(), due.date()) == 21
    assert warn == datetime(2026, 1, 20, 10, 0, tzinfo=LONDON)
    # A warning longer than the clock starts at the visit, never before it.
    assert result_clock(start, 2, 5)[1] == start


def attended(h: Hub, kind: str = ReferralKind.TRIAGE) -> Appointment:
    slot = clinic_today(h).slots.first()
    assert slot is not None
    referral = hub_referral(h, kind=kind)
    a = Appointment.objects.create(slot=slot, referral=referral, booked_by=h.admin)
    ready(h, a)
    return services.record_visit(h.photographer, a, hub=h.hub, outcome="attended")


@override_settings(HUB_RESULT_WORKING_DAYS=5)
def test_the_number_of_working_days_is_a_setting(world: World) -> None:
    a = attended(make_hub(world))
    assert a.result_due_at is not None and a.outcome_at is not None
    assert (
        working_days_between(timezone.localdate(a.outcome_at), timezone.localdate(a.result_due_at))
        == 5
    )
    clock = results.latest_clock(a.referral_id)
    assert clock is not None and clock.working_days == 5 and clock.status == "ok"


def test_near_breach_is_warned_once_and_the_answer_stops_the_clock(
    client: Client, world: World, django_assert_num_queries: Any
) -> None:
    h = make_hub(world)
    a = attended(h, kind=ReferralKind.URGENT_CANCER)
    assert results.warn_near_results() == 0  # not near yet
    Appointment.objects.filter(pk=a.pk).update(result_warn_at=timezone.now() - timedelta(minutes=1))
    assert tasks.warn_near_results.call() == 1
    assert results.warn_near_results() == 0  # once
    warned = OutboxMessage.objects.filter(event="hub_result_near_breach")
    assert warned.exists() and all("is nearly due" in m.subject for m in warned)
    assert {m.recipient for m in warned} >= {world.derek.email.lower()}
    assert AuditEvent.objects.filter(action="clinics.result.near_breach_warning").count() == 1
    a.refresh_from_db()
    assert results.clock_of(a) is not None
    assert results.clock_of(a).status == "near"  # type: ignore[union-attr]
    # The GP sends the referral; the worklist and the review page show the clock (beside the
    # 28-day standard), a page of cases getting the clocks in one query.
    referral = Referral.objects.get(pk=a.referral_id)
    referral_services.submit_referral(referral, user=referral.referrer)
    referral_services.queue_for_review(referral.pk)
    other = Referral.objects.exclude(pk=referral.pk).first()
    with django_assert_num_queries(1):
        clocks = results.clocks_for([referral, *([other] if other else [])])
    assert list(clocks) == [referral.pk] and clocks[referral.pk].label == "Near target"
    client.force_login(world.derek)
    worklist = client.get("/worklist/").content.decode()
    assert "Result to the patient by" in worklist and "Near target" in worklist
    review = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Result to the patient by" in review and "28-day Faster Diagnosis Standard" in review
    assert "Near target" in review
    # Past the due date: breached.
    Appointment.objects.filter(pk=a.pk).update(result_due_at=timezone.now() - timedelta(hours=1))
    a.refresh_from_db()
    assert results.clock_of(a).status == "breached"  # type: ignore[union-attr]
    # The dermatologist's answer stops it.
    Referral.objects.filter(pk=referral.pk).update(responded_at=timezone.now())
    a.refresh_from_db()
    assert results.clock_of(a).status == "met"  # type: ignore[union-attr]


@pytest.mark.parametrize("outcome", ["did_not_attend", "not_photographed"])
def test_no_clock_without_an_attended_visit(world: World, outcome: str) -> None:
    h = make_hub(world)
    slot = clinic_today(h).slots.first()
    assert slot is not None
    a = Appointment.objects.create(slot=slot, referral=hub_referral(h), booked_by=h.admin)
    done = services.record_visit(h.photographer, a, hub=h.hub, outcome=outcome, reason="Moved away")
    assert done.result_due_at is None
    assert results.latest_clock(a.referral_id) is None
