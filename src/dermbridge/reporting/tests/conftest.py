"""A hand-built month and a half at City Hospital Dermatology with known clocks and outcomes.

Referrals are walked to their state through the real services (`make_referral`), then their
clocks are set with queryset `.update()` so every expected number can be worked out by hand:
see test_services.py for the arithmetic. Weekdays: 2, 9 and 16 November 2026 are Mondays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from dermbridge.referrals.models import Outcome, Referral, ReferralKind, State
from dermbridge.reporting.metrics import Period
from dermbridge.testing import World, make_referral, make_world
from dermbridge.triage.models import Agreement

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=LONDON)  # a Wednesday
PERIOD = Period(date(2026, 10, 5), date(2026, 11, 18))


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LONDON)


def set_clocks(referral: Referral, **fields: Any) -> None:
    Referral.objects.filter(pk=referral.pk).update(**fields)


def set_decision(referral: Referral, decision: str) -> None:
    Outcome.objects.filter(referral=referral).update(pathway_decision=decision)


def agreement(referral: Referral, version: str, ai: bool, derm: bool, histo: bool | None) -> None:
    Agreement.objects.create(
        referral=referral,
        model_version=version,
        ai_malignant_probability=0.8 if ai else 0.1,
        ai_band="high" if ai else "low",
        ai_suggests_malignant=ai,
        dermatologist_diagnosis_code="372244006" if derm else "400182000",
        dermatologist_malignant=derm,
        histology_malignant=histo,
    )


@dataclass
class Clinic:
    world: World
    refs: dict[str, Referral]

    def reference(self, name: str) -> str:
        return self.refs[name].reference


@pytest.fixture(scope="package")
def clinic(django_db_setup: None, django_db_blocker: Any) -> Iterator[Clinic]:
    """Built once for this test package (about 15 referrals through the real services is slow) inside
    a transaction that is rolled back afterwards; each test still runs in its own savepoint."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_clinic(make_world())
        transaction.set_rollback(True)


def build_clinic(world: World) -> Clinic:
    ag, ras, usc = ReferralKind.ADVICE, ReferralKind.TRIAGE, ReferralKind.URGENT_CANCER
    refs: dict[str, Referral] = {}

    def build(name: str, state: str, kind: str, **clocks: Any) -> Referral:
        referral = make_referral(world, state=state, kind=kind)
        set_clocks(referral, **clocks)
        refs[name] = referral
        return referral

    # Advice & Guidance (target 2 working days).
    build("a1", State.ADVICE_GIVEN, ag, submitted_at=at(11, 2, 9), responded_at=at(11, 2, 15),
          due_at=at(11, 4, 9), warn_at=at(11, 3, 9))  # fmt: skip
    build("a2", State.ADVICE_GIVEN, ag, submitted_at=at(11, 6, 16), responded_at=at(11, 9, 10),
          due_at=at(11, 10, 16), warn_at=at(11, 9, 16))  # fmt: skip
    build("a3", State.ADVICE_GIVEN, ag, submitted_at=at(11, 9, 9), responded_at=at(11, 13, 9),
          due_at=at(11, 11, 9), warn_at=at(11, 10, 9))  # fmt: skip
    build("a4", State.AWAITING_REVIEW, ag, submitted_at=at(11, 16, 9), responded_at=None,
          due_at=at(11, 18, 9), warn_at=at(11, 17, 9))  # fmt: skip
    # Referral triage (target 5 working days).
    build("r1", State.TRIAGED, ras, submitted_at=at(11, 3, 10), responded_at=at(11, 5, 10),
          due_at=at(11, 10, 10), warn_at=at(11, 9, 10))  # fmt: skip
    build("r2", State.TRIAGED, ras, submitted_at=at(11, 10, 10), responded_at=at(11, 10, 16),
          due_at=at(11, 17, 10), warn_at=at(11, 16, 10))  # fmt: skip
    set_decision(refs["r2"], "routine_clinic")
    build("r3", State.AWAITING_REVIEW, ras, submitted_at=at(11, 11, 13), responded_at=None,
          due_at=at(11, 18, 13), warn_at=at(11, 17, 13))  # fmt: skip
    # Urgent suspected cancer (28-day Faster Diagnosis Standard).
    build("u1", State.TRIAGED, usc, submitted_at=at(11, 2, 9), responded_at=at(11, 3, 9),
          due_at=at(11, 30, 9), warn_at=at(11, 23, 9), patient_told_at=at(11, 16, 9))  # fmt: skip
    set_decision(refs["u1"], "urgent_clinic")
    build("u2", State.TRIAGED, usc, submitted_at=at(10, 5, 9), responded_at=at(10, 6, 9),
          due_at=at(11, 2, 9), warn_at=at(10, 26, 9), patient_told_at=at(11, 4, 9))  # fmt: skip
    set_decision(refs["u2"], "biopsy")
    build("u3", State.AWAITING_REVIEW, usc, submitted_at=at(10, 12, 9), responded_at=None,
          due_at=at(11, 9, 9), warn_at=at(11, 2, 9))  # fmt: skip
    build("u4", State.IN_REVIEW, usc, submitted_at=at(11, 16, 9), responded_at=None,
          due_at=at(12, 14, 9), warn_at=at(12, 7, 9))  # fmt: skip
    build("u5", State.WITHDRAWN, usc, submitted_at=at(11, 3, 11), responded_at=None,
          due_at=at(12, 1, 11), warn_at=at(11, 24, 11))  # fmt: skip
    # Outside the period (submitted before 5 October): counted nowhere.
    build("old", State.ADVICE_GIVEN, ag, submitted_at=at(9, 28, 9), responded_at=at(9, 28, 10),
          due_at=at(9, 30, 9), warn_at=at(9, 29, 9))  # fmt: skip
    # County Dermatology's referral in the same weeks: never on City's dashboard.
    county = make_referral(world, state=State.TRIAGED, kind=ras, service=world.service_b)
    set_clocks(county, submitted_at=at(11, 3, 9), responded_at=at(11, 20, 9),
               due_at=at(11, 10, 9), warn_at=at(11, 9, 9))  # fmt: skip
    refs["county"] = county

    agreement(refs["r1"], "v1", ai=False, derm=False, histo=None)
    agreement(refs["u1"], "v1", ai=True, derm=True, histo=True)
    agreement(refs["u2"], "v1", ai=False, derm=True, histo=True)
    agreement(refs["r2"], "v2", ai=True, derm=False, histo=False)
    agreement(county, "v1", ai=True, derm=False, histo=None)
    return Clinic(world, refs)


@pytest.fixture
def world(clinic: Clinic, db: None) -> World:
    """The personas of the module's clinic (the project-wide fixture would build a second)."""
    return clinic.world
