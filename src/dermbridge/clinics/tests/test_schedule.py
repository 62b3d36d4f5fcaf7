"""Defining clinics: sessions cut into slots, weekly templates that skip England and Wales bank
holidays and closures, capacity and utilisation per week."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import services
from dermbridge.clinics.models import ClinicSession, Slot
from dermbridge.clinics.tests.support import hub_referral, make_clinic, make_hub, next_working_day
from dermbridge.core.errors import InvalidInput, NotPermitted
from dermbridge.testing import World


def test_a_session_is_cut_into_slots_with_capacity_places_each(world: World) -> None:
    h = make_hub(world)
    session = make_clinic(h, capacity=2, slots=4)
    slots = list(Slot.objects.filter(session=session))
    assert len(slots) == 8
    assert {s.place for s in slots} == {0, 1}
    assert slots[0].ends_at - slots[0].starts_at == timedelta(minutes=15)
    assert AuditEvent.objects.filter(action="clinics.session.create").count() == 1


def test_only_the_hubs_administrator_defines_clinics(world: World) -> None:
    h = make_hub(world)
    with pytest.raises(NotPermitted):
        services.create_site(h.photographer, h.hub, name="X", address="Y")
    for outsider in (world.alice, world.sam, world.derek):
        with pytest.raises(NotPermitted):
            make_clinic(h.__class__(world, h.hub, outsider, h.photographer, h.site))


def test_bad_times_and_bank_holidays_and_other_hubs_people_are_refused(world: World) -> None:
    h = make_hub(world)
    day = next_working_day()
    with pytest.raises(InvalidInput, match="end after"):
        services.create_session(
            h.admin, h.site, day=day, start=time(10), end=time(9), slot_minutes=15, capacity=1
        )
    with pytest.raises(InvalidInput, match="does not work at"):
        services.create_session(
            h.admin,
            h.site,
            day=day,
            start=time(9),
            end=time(10),
            slot_minutes=15,
            capacity=1,
            photographers=[world.alice],
        )
    christmas = date(timezone_year() + 1, 12, 25)
    with pytest.raises(InvalidInput, match="bank holiday"):
        services.create_session(
            h.admin, h.site, day=christmas, start=time(9), end=time(10), slot_minutes=15, capacity=1
        )


def timezone_year() -> int:
    from django.utils import timezone

    return timezone.localdate().year


def test_a_template_generates_weeks_skipping_bank_holidays_closures_and_repeats(
    world: World,
) -> None:
    h = make_hub(world)
    # Mondays from just before the early May bank holiday of 2027 (3 May 2027).
    today = date(2027, 4, 25)  # a Sunday
    services.create_template(
        h.admin,
        h.site,
        weekday=0,
        start=time(9),
        end=time(10),
        slot_minutes=20,
        capacity=1,
        photographers=[h.photographer],
    )
    services.add_closure(h.admin, h.hub, day=date(2027, 5, 10), reason="Staff training")
    result = services.generate_sessions(h.admin, h.hub, weeks=4, today=today)
    days = [s.date for s in result.created]
    assert days == [date(2027, 4, 26), date(2027, 5, 17)]
    reasons = dict(result.skipped)
    assert "bank holiday" in reasons[date(2027, 5, 3)]
    assert "Staff training" in reasons[date(2027, 5, 10)]
    assert Slot.objects.filter(session__in=result.created).count() == 6
    assert list(result.created[0].photographers.all()) == [h.photographer]
    again = services.generate_sessions(h.admin, h.hub, weeks=4, today=today)
    assert again.created == []
    assert ClinicSession.objects.count() == 2


def test_closing_a_day_stops_its_slots_unless_someone_is_booked(world: World) -> None:
    h = make_hub(world)
    session = make_clinic(h)
    referral = hub_referral(h)
    appointment = services.book(h.photographer, referral, hub=h.hub, site=h.site)
    with pytest.raises(InvalidInput, match="move or cancel"):
        services.add_closure(h.admin, h.hub, day=session.date, reason="Flood")
    services.cancel(h.photographer, appointment, hub=h.hub, reason="Hub closing")
    services.add_closure(h.admin, h.hub, day=session.date, reason="Flood")
    session.refresh_from_db()
    assert session.closed_reason == "Flood"
    assert services.earliest_free_slot(h.site) is None


def test_utilisation_per_week_counts_offered_and_booked_places(world: World) -> None:
    h = make_hub(world)
    session = make_clinic(h, slots=4)
    services.book(h.photographer, hub_referral(h), hub=h.hub, site=h.site)
    weeks = services.utilisation(h.hub, start=session.date, weeks=2)
    assert [(w.offered, w.booked, w.free, w.utilisation) for w in weeks] == [
        (4, 1, 3, 25),
        (0, 0, 0, 0),
    ]
