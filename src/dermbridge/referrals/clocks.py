"""Response targets: working days (England and Wales bank holidays) and the 28-day FDS."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays

FDS_DAYS = 28


@lru_cache(maxsize=32)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: datetime, days: int) -> datetime:
    """The same time of day `days` working days after `start` (weekends, bank holidays skipped)."""
    current = start
    step = 1 if days >= 0 else -1
    remaining = abs(days)
    while remaining:
        current += timedelta(days=step)
        if is_working_day(current.date()):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    days = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            days += 1
    return days


def fds_due(submitted_at: datetime) -> datetime:
    """Faster Diagnosis Standard: the patient told cancer is diagnosed or ruled out within 28 days."""
    return submitted_at + timedelta(days=FDS_DAYS)
