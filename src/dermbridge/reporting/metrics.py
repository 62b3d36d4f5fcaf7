"""What the service dashboard shows, and the arithmetic behind it: periods, working-day
durations, percentiles and shares, each result a typed, frozen dataclass.

Pure functions of their inputs; `dermbridge.reporting.services` runs the queries that feed them.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.utils import timezone

from dermbridge.referrals.clocks import is_working_day
from dermbridge.referrals.models import ReferralKind, State

DEFAULT_WEEKS = 12
# Bank holidays are counted from this year on (working-day durations need only differences).
HOLIDAYS_SINCE = 2000
MAX_PERIOD_DAYS = 731
# The FDS share skin cancer services are expected to exceed (NHS England, skin pathway).
FDS_SKIN_EXPECTATION = 0.90
# National FDS operational standard by financial year start (75% from Oct 2023, 77% 2024-25,
# 80% 2025-26); the latest published target applies until a new one is added here.
FDS_NATIONAL_TARGETS: tuple[tuple[date, float], ...] = (
    (date(2023, 10, 1), 0.75),
    (date(2024, 4, 1), 0.77),
    (date(2025, 4, 1), 0.80),
)
KIND_ORDER = (ReferralKind.ADVICE, ReferralKind.TRIAGE, ReferralKind.URGENT_CANCER)
# Pathways with a working-day response target the service answers (USC runs on the FDS clock).
RESPONSE_KINDS = (ReferralKind.ADVICE, ReferralKind.TRIAGE)


# ---------------------------------------------------------------------------------------------
# Periods and arithmetic
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A reporting period of whole days, `start` to `end` inclusive, in Europe/London."""

    start: date
    end: date

    @classmethod
    def last_weeks(cls, weeks: int = DEFAULT_WEEKS, today: date | None = None) -> Period:
        """The current week (from Monday) and the `weeks - 1` whole weeks before it."""
        today = today or timezone.localdate()
        monday = today - timedelta(days=today.weekday())
        return cls(monday - timedelta(weeks=weeks - 1), today)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """Aware datetimes [first midnight, midnight after the last day)."""
        zone = timezone.get_current_timezone()
        first = datetime.combine(self.start, time.min, tzinfo=zone)
        after = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone)
        return first, after

    def week_starts(self) -> list[date]:
        """The Monday of every week the period touches, oldest first."""
        monday = self.start - timedelta(days=self.start.weekday())
        weeks = []
        while monday <= self.end:
            weeks.append(monday)
            monday += timedelta(weeks=1)
        return weeks


def fds_national_target(on: date) -> float:
    """The national Faster Diagnosis Standard target in force on a date."""
    target = FDS_NATIONAL_TARGETS[0][1]
    for since, value in FDS_NATIONAL_TARGETS:
        if on >= since:
            target = value
    return target


def working_days_elapsed(start: datetime, end: datetime) -> float:
    """Time from `start` to `end` counted on working days only, in days of 24 hours.

    Weekends and England bank holidays (as the target clocks) do not count: a request sent on
    Friday at 16:00 and answered on Monday at 10:00 took 18 hours, 0.75 working days.
    """
    start, end = timezone.localtime(start), timezone.localtime(end)
    if end <= start:
        return 0.0
    return _working_position(end) - _working_position(start)


def _working_position(moment: datetime) -> float:
    """Working days from 1 January 1 to `moment` (local time), so that a duration is a
    difference of two positions: constant time per referral, not a walk over its days."""
    day = moment.date()
    position = float(_working_days_before(day))
    if is_working_day(day):
        midnight = datetime.combine(day, time.min, tzinfo=moment.tzinfo)
        position += (moment - midnight) / timedelta(days=1)
    return position


def _working_days_before(day: date) -> int:
    # Day 1 of the proleptic calendar (1 January 1) was a Monday.
    weeks, rest = divmod(day.toordinal() - 1, 7)
    weekdays = weeks * 5 + min(rest, 5)
    holidays = _weekday_holidays(day.year)
    return weekdays - _weekday_holidays_before_year(day.year) - bisect_left(holidays, day)


@lru_cache(maxsize=256)
def _weekday_holidays(year: int) -> tuple[date, ...]:
    """The bank holidays of a year that fall on a weekday, in order."""
    first = date(year, 1, 1)
    days = (first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days))
    return tuple(d for d in days if d.weekday() < 5 and not is_working_day(d))


@lru_cache(maxsize=256)
def _weekday_holidays_before_year(year: int) -> int:
    """Weekday bank holidays from 1 January HOLIDAYS_SINCE to 1 January `year` (negative for
    earlier years): any fixed origin will do, as it cancels out of every duration."""
    if year == HOLIDAYS_SINCE:
        return 0
    if year > HOLIDAYS_SINCE:
        return _weekday_holidays_before_year(year - 1) + len(_weekday_holidays(year - 1))
    return _weekday_holidays_before_year(year + 1) - len(_weekday_holidays(year))


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (as PostgreSQL percentile_cont); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def share(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide (shown as 'no data', never 0%)."""
    return part / whole if whole else None


# ---------------------------------------------------------------------------------------------
# What the dashboard shows
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekCounts:
    """Referrals submitted in one week (Monday to Sunday), by pathway."""

    week_start: date
    advice: int = 0
    triage: int = 0
    urgent_cancer: int = 0

    @property
    def total(self) -> int:
        return self.advice + self.triage + self.urgent_cancer

    def by_kind(self) -> dict[str, int]:
        return {
            ReferralKind.ADVICE: self.advice,
            ReferralKind.TRIAGE: self.triage,
            ReferralKind.URGENT_CANCER: self.urgent_cancer,
        }


@dataclass(frozen=True)
class ResponseTimes:
    """How fast one pathway was answered, against the service's working-day target.

    `assessed` is every answered request plus every unanswered one already past its target,
    so an overdue case counts against the service before it is answered.
    """

    kind: str
    label: str
    target_working_days: int
    answered: int
    median_working_days: float | None
    p90_working_days: float | None
    answered_within_target: int
    overdue_unanswered: int

    @property
    def assessed(self) -> int:
        return self.answered + self.overdue_unanswered

    @property
    def share_within_target(self) -> float | None:
        return share(self.answered_within_target, self.assessed)


@dataclass(frozen=True)
class DecisionCount:
    decision: str
    label: str
    count: int
    face_to_face: bool


@dataclass(frozen=True)
class OutcomeMix:
    """Pathway decisions recorded for the period's referrals, and the share seen face to face."""

    decisions: list[DecisionCount]

    @property
    def total(self) -> int:
        return sum(d.count for d in self.decisions)

    @property
    def without_face_to_face(self) -> int:
        return sum(d.count for d in self.decisions if not d.face_to_face)

    @property
    def share_without_face_to_face(self) -> float | None:
        """The headline: advice and discharge out of all outcomes."""
        return share(self.without_face_to_face, self.total)


@dataclass(frozen=True)
class FasterDiagnosis:
    """28-day Faster Diagnosis Standard for the period's urgent suspected cancer referrals.

    Met: the patient was told by the due date (28 days from the clock start). Breached: told
    later, or not told and the 28 days have passed. Cases still inside their 28 days and not
    told are pending and not yet counted; withdrawn referrals are not counted.
    """

    told_within: int
    told_late: int
    not_told_past_due: int
    pending: int
    national_target: float
    skin_expectation: float = FDS_SKIN_EXPECTATION

    @property
    def breached(self) -> int:
        return self.told_late + self.not_told_past_due

    @property
    def counted(self) -> int:
        return self.told_within + self.breached

    @property
    def compliance(self) -> float | None:
        return share(self.told_within, self.counted)

    @property
    def meets_national_target(self) -> bool | None:
        value = self.compliance
        return None if value is None else value >= self.national_target


@dataclass(frozen=True)
class ModelAgreement:
    """How often one AI model version agreed with the service's dermatologists (and histology)."""

    model_version: str
    cases: int
    agreed: int
    dermatologist_malignant_ai_low: int
    with_histology: int
    histology_proven_malignant: int
    ai_detected_histology_malignant: int
    dermatologist_detected_histology_malignant: int

    @property
    def agreement_with_dermatologist(self) -> float | None:
        return share(self.agreed, self.cases)

    @property
    def ai_sensitivity_vs_histology(self) -> float | None:
        return share(self.ai_detected_histology_malignant, self.histology_proven_malignant)

    @property
    def dermatologist_sensitivity_vs_histology(self) -> float | None:
        return share(
            self.dermatologist_detected_histology_malignant, self.histology_proven_malignant
        )


@dataclass(frozen=True)
class OpenCases:
    """Cases the service still owes an answer on now, and how many are near or past target."""

    kind: str
    label: str
    open: int
    near_breach: int
    breached: int


@dataclass(frozen=True)
class Dashboard:
    service_id: int
    service_name: str
    period: Period
    generated_at: datetime
    weeks: list[WeekCounts]
    response_times: list[ResponseTimes]
    outcomes: OutcomeMix
    fds: FasterDiagnosis
    agreement: list[ModelAgreement]
    open_cases: list[OpenCases] = field(default_factory=list)

    @property
    def referrals_in_period(self) -> int:
        return sum(w.total for w in self.weeks)

    @property
    def open_totals(self) -> OpenCases:
        return OpenCases(
            "",
            "All pathways",
            sum(o.open for o in self.open_cases),
            sum(o.near_breach for o in self.open_cases),
            sum(o.breached for o in self.open_cases),
        )


# ---------------------------------------------------------------------------------------------
# One referral in the export (no patient identifiers)
# ---------------------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "reference",
    "kind",
    "state",
    "submitted",
    "due",
    "responded",
    "patient_told",
    "decision",
    "within_target",
)


@dataclass(frozen=True)
class ExportRow:
    """One referral in the export: clocks and decision, never the patient's name or NHS number."""

    reference: str
    kind: str
    state: str
    submitted: datetime | None
    due: datetime | None
    responded: datetime | None
    patient_told: datetime | None
    decision: str
    within_target: bool | None

    def cells(self) -> list[str]:
        def when(value: datetime | None) -> str:
            return timezone.localtime(value).isoformat(timespec="minutes") if value else ""

        within = {True: "yes", False: "no", None: ""}[self.within_target]
        return [
            self.reference,
            self.kind,
            self.state,
            when(self.submitted),
            when(self.due),
            when(self.responded),
            when(self.patient_told),
            self.decision,
            within,
        ]


def within_target(
    kind: str, state: str, due: Any, responded: Any, told: Any, now: datetime
) -> bool | None:
    """Whether the target clock (FDS for USC) was met: None while it is still running or void."""
    stopped = told if kind == ReferralKind.URGENT_CANCER else responded
    if due is None or state == State.WITHDRAWN:
        return None
    if stopped is not None:
        return bool(stopped <= due)
    if due < now and not (state == State.CLOSED and kind != ReferralKind.URGENT_CANCER):
        return False
    return None
