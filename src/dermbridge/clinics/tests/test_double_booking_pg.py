"""Two members of staff book at the same moment: never two patients in one slot.

Real concurrency needs a database that lets several connections write at once: PostgreSQL
(`make test-pg`, or DERMBRIDGE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/dermbridge
.venv/bin/pytest ...). The suite's default SQLite test database is in memory and shared by
threads through one connection, so the threads would take turns and prove nothing; there these
tests are skipped, and the constraint and the sequential refusal are tested in test_booking.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import connection, connections

from dermbridge.clinics import services
from dermbridge.clinics.models import Appointment, AppointmentStatus, Slot
from dermbridge.clinics.tests.support import hub_referral, make_clinic, make_hub
from dermbridge.core.errors import TransitionNotAllowed
from dermbridge.testing import World, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def needs_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: the in-memory SQLite test database serialises the threads "
            "(set DERMBRIDGE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/dermbridge)"
        )


def all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread (own connection), released together."""
    barrier = threading.Barrier(len(calls))
    answers: list[Any] = [None] * len(calls)

    def one(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers[index] = calls[index]()
        except Exception as exc:  # the answer under test
            answers[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_two_staff_booking_the_same_slot_at_once_book_one_patient(world: World) -> None:
    needs_postgres()
    h = make_hub(world)
    session = make_clinic(h, slots=2)
    slot = Slot.objects.filter(session=session).order_by("starts_at").first()
    assert slot is not None
    colleague = make_user("paula", h.hub, "photographer")
    people = [h.photographer, colleague, h.admin, h.photographer]
    referrals = [hub_referral(h) for _ in people]
    answers = all_at_once(
        [
            partial(services.book, u, r, hub=h.hub, slot=slot)
            for u, r in zip(people, referrals, strict=True)
        ]
    )
    booked = [a for a in answers if isinstance(a, Appointment)]
    refused = [a for a in answers if isinstance(a, TransitionNotAllowed)]
    print(f"{len(people)} at once: {len(booked)} booked, {len(refused)} told the slot has gone")
    assert len(booked) == 1 and len(refused) == len(people) - 1, answers
    live = Appointment.objects.filter(slot=slot, status=AppointmentStatus.BOOKED)
    assert live.count() == 1


def test_staff_booking_the_earliest_slot_at_once_get_different_slots(world: World) -> None:
    needs_postgres()
    h = make_hub(world)
    make_clinic(h, slots=3)
    colleague = make_user("paula", h.hub, "photographer")
    people = [h.photographer, colleague, h.admin]
    referrals = [hub_referral(h) for _ in people]
    answers = all_at_once(
        [
            partial(services.book, u, r, hub=h.hub, site=h.site)
            for u, r in zip(people, referrals, strict=True)
        ]
    )
    assert all(isinstance(a, Appointment) for a in answers), answers
    assert len({a.slot_id for a in answers}) == 3
