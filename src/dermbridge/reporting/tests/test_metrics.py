"""The dashboard's arithmetic: working-day durations, percentiles, periods, FDS and headline shares."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from dermbridge.reporting.metrics import (
    DecisionCount,
    FasterDiagnosis,
    OutcomeMix,
    Period,
    fds_national_target,
    percentile,
    within_target,
    working_days_elapsed,
)

LONDON = ZoneInfo("Europe/London")


def at(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def test_it_counts_only_working_time_between_two_moments() -> None:
    """GIVEN a request sent on Friday 16:00 and answered on Monday 10:00
    THEN it took 18 hours of working days: 0.75 working days (the weekend does not count)."""
    assert working_days_elapsed(at(6, 16), at(9, 10)) == pytest.approx(0.75)
    assert working_days_elapsed(at(2, 9), at(2, 15)) == pytest.approx(0.25)
    assert working_days_elapsed(at(9, 9), at(13, 9)) == pytest.approx(4.0)
    assert working_days_elapsed(at(13, 9), at(9, 9)) == 0.0


def test_it_skips_bank_holidays() -> None:
    """GIVEN a request sent on Thursday before Christmas 2026 and answered the next Tuesday
    THEN Christmas Day, Boxing Day (substitute Monday 28 Dec) and the weekend do not count."""
    sent = at(24, 12, month=12)
    answered = at(29, 12, month=12)
    # Thu 24 (12 h) + Tue 29 (12 h); Fri 25, Sat, Sun, Mon 28 (Boxing Day substitute) skipped.
    assert working_days_elapsed(sent, answered) == pytest.approx(1.0)


def test_it_interpolates_percentiles_like_postgresql() -> None:
    assert percentile([], 0.9) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([0.25, 0.75, 4.0], 0.5) == pytest.approx(0.75)
    assert percentile([0.25, 0.75, 4.0], 0.9) == pytest.approx(3.35)
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == pytest.approx(9.1)


def test_it_defaults_to_the_current_week_and_eleven_before() -> None:
    period = Period.last_weeks(today=date(2026, 11, 18))
    assert period == Period(date(2026, 8, 31), date(2026, 11, 18))
    weeks = period.week_starts()
    assert len(weeks) == 12 and weeks[0] == date(2026, 8, 31) and weeks[-1] == date(2026, 11, 16)
    first, after = period.bounds
    assert first == datetime(2026, 8, 31, tzinfo=LONDON)
    assert after == datetime(2026, 11, 19, tzinfo=LONDON)


def test_it_uses_the_national_fds_target_in_force() -> None:
    assert fds_national_target(date(2024, 1, 1)) == 0.75
    assert fds_national_target(date(2024, 4, 1)) == 0.77
    assert fds_national_target(date(2025, 4, 1)) == 0.80
    assert fds_national_target(date(2026, 11, 18)) == 0.80


def test_it_computes_fds_compliance_from_met_and_breached_cases() -> None:
    """GIVEN 9 patients told within 28 days, 1 told late, 2 not told past 28 days, 4 pending
    THEN compliance is 9 of 12 (75%): pending cases are not counted, unmet ones are breaches."""
    fds = FasterDiagnosis(
        told_within=9, told_late=1, not_told_past_due=2, pending=4, national_target=0.80
    )
    assert fds.breached == 3 and fds.counted == 12
    assert fds.compliance == pytest.approx(0.75)
    assert fds.meets_national_target is False
    empty = FasterDiagnosis(0, 0, 0, 3, national_target=0.80)
    assert empty.compliance is None and empty.meets_national_target is None


def test_it_counts_advice_and_discharge_as_managed_without_face_to_face() -> None:
    """GIVEN 3 advice, 1 discharge, 1 routine clinic, 1 urgent clinic and 1 biopsy outcome
    THEN 4 of 7 outcomes avoided a face-to-face appointment."""
    mix = OutcomeMix(
        [
            DecisionCount("advice", "Advice", 3, False),
            DecisionCount("discharge", "Discharge", 1, False),
            DecisionCount("routine_clinic", "Routine", 1, True),
            DecisionCount("urgent_clinic", "Urgent", 1, True),
            DecisionCount("biopsy", "Biopsy", 1, True),
            DecisionCount("surgery", "Surgery", 0, True),
        ]
    )
    assert mix.total == 7 and mix.without_face_to_face == 4
    assert mix.share_without_face_to_face == pytest.approx(4 / 7)
    assert OutcomeMix([]).share_without_face_to_face is None


def test_it_decides_within_target_per_pathway() -> None:
    now = at(18, 12)
    due = at(11, 9)
    assert within_target("ag", "advice_given", due, at(10, 9), None, now) is True
    assert within_target("ag", "advice_given", due, at(13, 9), None, now) is False
    assert within_target("ag", "awaiting_review", due, None, None, now) is False
    assert within_target("ag", "awaiting_review", at(20, 9), None, None, now) is None
    assert within_target("ag", "withdrawn", due, None, None, now) is None
    # USC runs on the FDS clock: the date the patient was told, not the triage answer.
    assert within_target("usc", "triaged", due, at(5, 9), None, now) is False
    assert within_target("usc", "triaged", due, at(5, 9), at(10, 9), now) is True


def _walk_working_days(start: datetime, end: datetime) -> float:
    """The obvious definition, one day at a time, to check the fast one against."""
    from datetime import time, timedelta

    from dermbridge.referrals.clocks import is_working_day

    total = timedelta()
    day = start.date()
    while day <= end.date():
        if is_working_day(day):
            day_start = datetime.combine(day, time.min, tzinfo=LONDON)
            overlap = min(end, day_start + timedelta(days=1)) - max(start, day_start)
            total += max(overlap, timedelta())
        day += timedelta(days=1)
    return total / timedelta(days=1)


def test_it_agrees_with_walking_the_calendar_day_by_day() -> None:
    """GIVEN 500 random spans of up to 60 days between 1998 and 2027 (New Year, Easter,
    Christmas, clock changes) THEN the fast working-day count equals the day-by-day walk."""
    import random
    from datetime import timedelta

    rng = random.Random(7)
    for _ in range(500):
        start = datetime(1998, 1, 1, tzinfo=LONDON) + timedelta(minutes=rng.randrange(15_500_000))
        end = start + timedelta(minutes=rng.randrange(60 * 24 * 60))
        assert working_days_elapsed(start, end) == pytest.approx(_walk_working_days(start, end))
