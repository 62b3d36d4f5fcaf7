"""Service metrics for a dermatology service's dashboard: demand, speed, outcomes, FDS, AI, risk.

Everything here only reads. Each function runs a fixed number of queries however many referrals
the service holds: counts are aggregated in SQL; the few figures SQL cannot give portably on
SQLite and PostgreSQL (percentiles, working-day durations) come from one narrow query and are
computed here.

A referral belongs to a reporting period by the date it was submitted (Europe/London). It is
reported under its current pathway: an A&G request converted to a referral counts as the kind
it became. The open-case counts describe the service now, whatever the period.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from dermbridge.accounts.models import Organisation
from dermbridge.referrals.models import (
    FACE_TO_FACE_DECISIONS,
    OPEN_STATES,
    Outcome,
    PathwayDecision,
    Referral,
    ReferralKind,
    State,
)
from dermbridge.reporting.metrics import (
    EXPORT_COLUMNS,
    KIND_ORDER,
    MAX_PERIOD_DAYS,
    RESPONSE_KINDS,
    Dashboard,
    DecisionCount,
    ExportRow,
    FasterDiagnosis,
    ModelAgreement,
    OpenCases,
    OutcomeMix,
    Period,
    ResponseTimes,
    WeekCounts,
    fds_national_target,
    percentile,
    within_target,
    working_days_elapsed,
)
from dermbridge.triage.models import Agreement

__all__ = ["EXPORT_COLUMNS", "MAX_PERIOD_DAYS", "Period", "export_rows", "service_dashboard"]

# ---------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------


def period_referrals(service_id: int, period: Period) -> QuerySet[Referral]:
    """The service's referrals submitted in the period (drafts have no submission date)."""
    first, after = period.bounds
    return Referral.objects.filter(
        service_id=service_id, submitted_at__gte=first, submitted_at__lt=after
    )


def weekly_counts(service_id: int, period: Period) -> list[WeekCounts]:
    """Referrals submitted per week by pathway; weeks with none are shown as zero. One query."""
    rows = (
        period_referrals(service_id, period)
        .annotate(week=TruncWeek("submitted_at", tzinfo=timezone.get_current_timezone()))
        .values("week", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[date, dict[str, int]] = {w: {} for w in period.week_starts()}
    for row in rows:
        week = row["week"]
        week = timezone.localtime(week).date() if isinstance(week, datetime) else week
        counts.setdefault(week, {})[row["kind"]] = row["n"]
    return [
        WeekCounts(
            week,
            advice=by_kind.get(ReferralKind.ADVICE, 0),
            triage=by_kind.get(ReferralKind.TRIAGE, 0),
            urgent_cancer=by_kind.get(ReferralKind.URGENT_CANCER, 0),
        )
        for week, by_kind in sorted(counts.items())
    ]


def response_times(
    service: Organisation, period: Period, now: datetime | None = None
) -> list[ResponseTimes]:
    """Submission-to-answer times for A&G and RAS in working days. One query."""
    now = now or timezone.now()
    rows = (
        period_referrals(service.pk, period)
        .filter(kind__in=RESPONSE_KINDS)
        .exclude(state=State.WITHDRAWN)
        .values_list("kind", "submitted_at", "responded_at", "due_at", "state")
    )
    durations: dict[str, list[float]] = {k.value: [] for k in RESPONSE_KINDS}
    within: dict[str, int] = dict.fromkeys(durations, 0)
    overdue: dict[str, int] = dict.fromkeys(durations, 0)
    for kind, submitted, responded, due, state in rows:
        if submitted is not None and responded is not None:
            durations[kind].append(working_days_elapsed(submitted, responded))
            within[kind] += int(due is not None and responded <= due)
        elif due is not None and due < now and state != State.CLOSED:
            overdue[kind] += 1
    targets: dict[str, int] = {
        ReferralKind.ADVICE: service.ag_target_working_days,
        ReferralKind.TRIAGE: service.ras_target_working_days,
    }
    return [
        ResponseTimes(
            kind=kind,
            label=ReferralKind(kind).label,
            target_working_days=targets[kind],
            answered=len(durations[kind]),
            median_working_days=statistics.median(durations[kind]) if durations[kind] else None,
            p90_working_days=percentile(durations[kind], 0.9),
            answered_within_target=within[kind],
            overdue_unanswered=overdue[kind],
        )
        for kind in RESPONSE_KINDS
    ]


def outcome_mix(service_id: int, period: Period) -> OutcomeMix:
    """Pathway decisions for the period's referrals, every decision listed. One query."""
    first, after = period.bounds
    rows = (
        Outcome.objects.filter(
            referral__service_id=service_id,
            referral__submitted_at__gte=first,
            referral__submitted_at__lt=after,
        )
        .values("pathway_decision")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {row["pathway_decision"]: row["n"] for row in rows}
    return OutcomeMix(
        [
            DecisionCount(
                decision.value,
                str(decision.label),
                counts.get(decision.value, 0),
                decision in FACE_TO_FACE_DECISIONS,
            )
            for decision in PathwayDecision
        ]
    )


def faster_diagnosis(
    service_id: int, period: Period, now: datetime | None = None
) -> FasterDiagnosis:
    """FDS compliance for the period's USC referrals, as one aggregate query.

    The due date is 28 days from the clock start: submission, or conversion for an A&G
    request converted to USC (the clock the worklist shows).
    """
    now = now or timezone.now()
    told = Q(patient_told_at__isnull=False)
    not_told = Q(patient_told_at__isnull=True)
    totals = (
        period_referrals(service_id, period)
        .filter(kind=ReferralKind.URGENT_CANCER)
        .exclude(state=State.WITHDRAWN)
        .aggregate(
            told_within=Count("id", filter=told & Q(patient_told_at__lte=F("due_at"))),
            told_late=Count("id", filter=told & Q(patient_told_at__gt=F("due_at"))),
            not_told_past_due=Count("id", filter=not_told & Q(due_at__lt=now)),
            pending=Count("id", filter=not_told & Q(due_at__gte=now)),
        )
    )
    return FasterDiagnosis(**totals, national_target=fds_national_target(period.end))


def model_agreement(service_id: int, period: Period) -> list[ModelAgreement]:
    """`triage.services.agreement_report` for one service and period, aggregated in one query."""
    first, after = period.bounds
    ai = Q(ai_suggests_malignant=True)
    derm = Q(dermatologist_malignant=True)
    histo = Q(histology_malignant=True)
    rows = (
        Agreement.objects.filter(
            referral__service_id=service_id,
            referral__submitted_at__gte=first,
            referral__submitted_at__lt=after,
        )
        .values("model_version")
        .annotate(
            cases=Count("id"),
            agreed=Count("id", filter=Q(ai_suggests_malignant=F("dermatologist_malignant"))),
            dermatologist_malignant_ai_low=Count("id", filter=derm & ~ai),
            with_histology=Count("id", filter=Q(histology_malignant__isnull=False)),
            histology_proven_malignant=Count("id", filter=histo),
            ai_detected_histology_malignant=Count("id", filter=histo & ai),
            dermatologist_detected_histology_malignant=Count("id", filter=histo & derm),
        )
        .order_by("model_version")
    )
    return [ModelAgreement(**row) for row in rows]


def open_cases(service_id: int, now: datetime | None = None) -> list[OpenCases]:
    """Open cases by pathway now, with `Referral.breach_status` near/breached counts. One query."""
    now = now or timezone.now()
    mine = Referral.objects.filter(service_id=service_id)
    rows = (
        mine.filter(state__in=OPEN_STATES)
        .values("kind")
        .annotate(
            open=Count("id"),
            near_breach=Count("id", filter=Q(pk__in=mine.breach("near", now).values("pk"))),
            breached=Count("id", filter=Q(pk__in=mine.breach("breached", now).values("pk"))),
        )
        .order_by()
    )
    by_kind: dict[str, dict[str, Any]] = {row["kind"]: dict(row) for row in rows}
    empty: dict[str, Any] = {}
    return [
        OpenCases(
            kind.value,
            str(kind.label),
            by_kind.get(kind, empty).get("open", 0),
            by_kind.get(kind, empty).get("near_breach", 0),
            by_kind.get(kind, empty).get("breached", 0),
        )
        for kind in KIND_ORDER
    ]


def service_dashboard(
    service: Organisation, period: Period, now: datetime | None = None
) -> Dashboard:
    """Every number on the service dashboard, in six queries."""
    now = now or timezone.now()
    return Dashboard(
        service_id=service.pk,
        service_name=service.name,
        period=period,
        generated_at=now,
        weeks=weekly_counts(service.pk, period),
        response_times=response_times(service, period, now),
        outcomes=outcome_mix(service.pk, period),
        fds=faster_diagnosis(service.pk, period, now),
        agreement=model_agreement(service.pk, period),
        open_cases=open_cases(service.pk, now),
    )


def export_rows(service_id: int, period: Period, now: datetime | None = None) -> list[ExportRow]:
    """The per-referral rows behind the dashboard, oldest first. One query."""
    now = now or timezone.now()
    rows: Iterable[tuple[Any, ...]] = (
        period_referrals(service_id, period)
        .order_by("submitted_at", "id")
        .values_list(
            "reference",
            "kind",
            "state",
            "submitted_at",
            "due_at",
            "responded_at",
            "patient_told_at",
            "outcome__pathway_decision",
        )
    )
    return [
        ExportRow(
            reference,
            kind,
            state,
            submitted,
            due,
            responded,
            told,
            decision or "",
            within_target(kind, state, due, responded, told, now),
        )
        for reference, kind, state, submitted, due, responded, told, decision in rows
    ]
