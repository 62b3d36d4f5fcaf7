"""Benchmark (make bench): the dashboard of a busy trust, 2,000 referrals a week for 12 weeks."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dermbridge.referrals.models import Outcome, Referral, ReferralKind, State
from dermbridge.reporting import services
from dermbridge.reporting.metrics import Period
from dermbridge.testing import World, make_referral

pytestmark = [pytest.mark.bench, pytest.mark.django_db]
PER_WEEK, WEEKS = 2_000, 12


def _busy_trust(world: World) -> int:
    template = make_referral(world, state=State.TRIAGED)
    outcome = Outcome.objects.get(referral=template)
    rng = random.Random(0)
    now = timezone.now()
    # Spread over the dashboard's period itself (whole weeks from a Monday up to now), so every
    # referral counts whatever the day of the week the bench runs on.
    first, _ = Period.last_weeks(WEEKS).bounds
    span_minutes = int((now - first).total_seconds() // 60)
    rows = []
    for i in range(PER_WEEK * WEEKS):
        kind = rng.choices(
            [ReferralKind.ADVICE, ReferralKind.TRIAGE, ReferralKind.URGENT_CANCER], [4, 4, 2]
        )[0]
        submitted = first + timedelta(minutes=rng.randrange(span_minutes))
        due = submitted + timedelta(days=28 if kind == ReferralKind.URGENT_CANCER else 4)
        answered = rng.random() < 0.85
        responded = submitted + timedelta(hours=rng.uniform(1, 150)) if answered else None
        if responded is not None and responded > now:
            responded, answered = None, False
        told = (
            responded + timedelta(days=rng.uniform(1, 35))
            if kind == ReferralKind.URGENT_CANCER and responded is not None
            else None
        )
        told = told if told is None or told <= now else None
        state = State.AWAITING_REVIEW
        if answered:
            state = State.ADVICE_GIVEN if kind == ReferralKind.ADVICE else State.TRIAGED
        rows.append(
            Referral(
                reference=f"BX{i:08d}",
                kind=kind,
                state=state,
                patient_id=template.patient_id,
                referring_org_id=template.referring_org_id,
                referrer_id=template.referrer_id,
                service_id=template.service_id,
                submitted_at=submitted,
                due_at=due,
                warn_at=due - timedelta(days=1),
                responded_at=responded,
                patient_told_at=told,
            )
        )
    created = Referral.objects.bulk_create(rows, batch_size=2_000)
    decisions = ["advice", "discharge", "routine_clinic", "urgent_clinic", "biopsy", "surgery"]
    Outcome.objects.bulk_create(
        [
            Outcome(
                referral_id=r.pk,
                diagnosis_code=outcome.diagnosis_code,
                management_plan="-",
                advice_to_referrer="-",
                patient_explanation="-",
                pathway_decision=rng.choice(decisions),
                recorded_by_id=outcome.recorded_by_id,
            )
            for r in created
            if r.responded_at is not None
        ],
        batch_size=2_000,
    )
    return len(created)


def test_it_builds_a_busy_trusts_dashboard_in_six_queries_and_seconds(
    world: World, django_assert_num_queries: Any
) -> None:
    count = _busy_trust(world)
    period = Period.last_weeks(WEEKS)
    started = time.perf_counter()
    with django_assert_num_queries(6):
        board = services.service_dashboard(world.service, period)
    dashboard_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = services.export_rows(world.service.pk, period)
    export_s = time.perf_counter() - started
    print(
        f"\nreporting bench: {count} referrals; dashboard {dashboard_s:.2f} s; "
        f"export {len(rows)} rows {export_s:.2f} s"
    )
    # Every generated referral, plus the fixture's own few.
    others = Referral.objects.exclude(reference__startswith="BX").count()
    assert count <= board.referrals_in_period <= count + others
    assert dashboard_s < 15 and export_s < 15
