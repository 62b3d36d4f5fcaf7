"""Defining a hub's clinics: sites, sessions cut into slots, weekly templates that generate
sessions for the coming weeks (England and Wales bank holidays and the hub's closures skipped),
and capacity and utilisation per week.

Every change is made by a hub service administrator (`access.check_admin`), in one transaction,
and audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from dermbridge.accounts.models import Organisation, User
from dermbridge.audit.services import record
from dermbridge.clinics.access import check_admin, is_hub_staff
from dermbridge.clinics.models import (
    HOLDS_SLOT,
    Appointment,
    AppointmentStatus,
    ClinicSession,
    Closure,
    SessionTemplate,
    Site,
    Slot,
)
from dermbridge.core.errors import InvalidInput, NotPermitted

MAX_SLOTS_PER_SESSION = 200
MAX_WEEKS_AHEAD = 26


@lru_cache(maxsize=32)
def _bank_holidays(year: int) -> dict[date, str]:
    # England and Wales share their bank holidays (subdivision ENG; WLS has the same days).
    return dict(holidays.country_holidays("GB", subdiv="ENG", years=year).items())


def bank_holiday(day: date) -> str:
    """The bank holiday's name if `day` is one in England and Wales, else ''."""
    return _bank_holidays(day.year).get(day, "")


def closure_on(site: Site, day: date) -> Closure | None:
    return (
        Closure.objects.filter(hub_id=site.hub_id, date=day)
        .filter(Q(site__isnull=True) | Q(site=site))
        .first()
    )


def _check_times(start: time, end: time, slot_minutes: int, capacity: int) -> None:
    errors: dict[str, list[str]] = {}
    if end <= start:
        errors["end"] = ["The clinic must end after it starts."]
    if not 5 <= slot_minutes <= 240:
        errors["slot_minutes"] = ["Give a slot length from 5 to 240 minutes."]
    if not 1 <= capacity <= 20:
        errors["capacity"] = ["Give how many patients are seen at once, from 1 to 20."]
    if not errors:
        minutes = (
            datetime.combine(date.min, end) - datetime.combine(date.min, start)
        ).seconds // 60
        if minutes < slot_minutes:
            errors["slot_minutes"] = ["The clinic is shorter than one slot."]
        elif minutes // slot_minutes * capacity > MAX_SLOTS_PER_SESSION:
            errors["capacity"] = [f"A clinic may have at most {MAX_SLOTS_PER_SESSION} places."]
    if errors:
        first = next(iter(errors.values()))[0]
        raise InvalidInput(first, field_errors=errors)


def _check_photographers(hub: Organisation, photographers: Iterable[User]) -> list[User]:
    people = list(photographers)
    for person in people:
        if not is_hub_staff(person, hub):
            raise InvalidInput(
                f"{person} does not work at {hub.name}.", field_errors={"photographers": [""]}
            )
    return people


def create_site(user: User, hub: Organisation, *, name: str, address: str) -> Site:
    check_admin(user, hub)
    name, address = name.strip(), address.strip()
    if not name or not address:
        raise InvalidInput(
            "Give the site's name and address.",
            field_errors={
                k: ["Required."] for k, v in (("name", name), ("address", address)) if not v
            },
        )
    with transaction.atomic():
        if Site.objects.filter(hub=hub, name=name).exists():
            raise InvalidInput(f"{hub.name} already has a site called {name}.")
        site = Site.objects.create(hub=hub, name=name, address=address)
        record(user, "clinics.site.create", site, organisation_id=hub.pk)
    return site


def _make_session(
    site: Site,
    day: date,
    start: time,
    end: time,
    slot_minutes: int,
    capacity: int,
    photographers: list[User],
    template: SessionTemplate | None = None,
) -> ClinicSession:
    session = ClinicSession.objects.create(
        site=site,
        template=template,
        date=day,
        start=start,
        end=end,
        slot_minutes=slot_minutes,
        capacity=capacity,
    )
    session.photographers.set(photographers)
    tz = timezone.get_current_timezone()
    at = datetime.combine(day, start, tzinfo=tz)
    finish = datetime.combine(day, end, tzinfo=tz)
    step = timedelta(minutes=slot_minutes)
    slots = []
    while at + step <= finish:
        slots += [
            Slot(session=session, starts_at=at, ends_at=at + step, place=place)
            for place in range(capacity)
        ]
        at += step
    Slot.objects.bulk_create(slots)
    return session


def create_session(
    user: User,
    site: Site,
    *,
    day: date,
    start: time,
    end: time,
    slot_minutes: int,
    capacity: int,
    photographers: Iterable[User] = (),
) -> ClinicSession:
    """One clinic on one day, cut into slots. Refused on a closure or a bank holiday."""
    check_admin(user, site.hub)
    _check_times(start, end, slot_minutes, capacity)
    people = _check_photographers(site.hub, photographers)
    if day < timezone.localdate():
        raise InvalidInput("A clinic cannot be in the past.", field_errors={"day": [""]})
    if holiday := bank_holiday(day):
        raise InvalidInput(f"{day:%-d %B %Y} is a bank holiday ({holiday}).")
    if closure := closure_on(site, day):
        raise InvalidInput(f"{site.name} is closed on {day:%-d %B %Y}: {closure.reason}.")
    try:
        with transaction.atomic():
            session = _make_session(site, day, start, end, slot_minutes, capacity, people)
            record(user, "clinics.session.create", session, organisation_id=site.hub_id)
    except IntegrityError:
        raise InvalidInput(
            f"{site.name} already has a clinic starting at {start:%H:%M} on {day:%-d %B %Y}."
        ) from None
    return session


def create_template(
    user: User,
    site: Site,
    *,
    weekday: int,
    start: time,
    end: time,
    slot_minutes: int,
    capacity: int,
    photographers: Iterable[User] = (),
) -> SessionTemplate:
    """A weekly clinic ("every Tuesday morning"); `generate_sessions` makes its sessions."""
    check_admin(user, site.hub)
    _check_times(start, end, slot_minutes, capacity)
    if not 0 <= weekday <= 6:
        raise InvalidInput("Choose a day of the week.", field_errors={"weekday": [""]})
    people = _check_photographers(site.hub, photographers)
    with transaction.atomic():
        template = SessionTemplate.objects.create(
            site=site,
            weekday=weekday,
            start=start,
            end=end,
            slot_minutes=slot_minutes,
            capacity=capacity,
        )
        template.photographers.set(people)
        record(user, "clinics.template.create", template, organisation_id=site.hub_id)
    return template


@dataclass(frozen=True)
class Generated:
    created: list[ClinicSession]
    skipped: list[tuple[date, str]]  # (day, why: a bank holiday, a closure, already there)


def generate_sessions(
    user: User, hub: Organisation, *, weeks: int = 4, today: date | None = None
) -> Generated:
    """Sessions from every active template of `hub` for the next `weeks` weeks (from tomorrow),
    skipping bank holidays, closures and sessions that already exist. Idempotent."""
    check_admin(user, hub)
    if not 1 <= weeks <= MAX_WEEKS_AHEAD:
        raise InvalidInput(f"Generate from 1 to {MAX_WEEKS_AHEAD} weeks ahead.")
    first = (today or timezone.localdate()) + timedelta(days=1)
    templates = SessionTemplate.objects.filter(site__hub=hub, active=True).select_related("site")
    created: list[ClinicSession] = []
    skipped: list[tuple[date, str]] = []
    with transaction.atomic():
        for template in templates.prefetch_related("photographers"):
            people = list(template.photographers.all())
            offset = (template.weekday - first.weekday()) % 7
            for week in range(weeks):
                day = first + timedelta(days=offset + 7 * week)
                if holiday := bank_holiday(day):
                    skipped.append((day, f"bank holiday: {holiday}"))
                    continue
                if closure := closure_on(template.site, day):
                    skipped.append((day, f"closed: {closure.reason}"))
                    continue
                exists = ClinicSession.objects.filter(
                    site=template.site, date=day, start=template.start
                ).exists()
                if exists:
                    skipped.append((day, "already has this clinic"))
                    continue
                created.append(
                    _make_session(
                        template.site,
                        day,
                        template.start,
                        template.end,
                        template.slot_minutes,
                        template.capacity,
                        people,
                        template,
                    )
                )
        record(
            user,
            "clinics.sessions.generate",
            hub,
            organisation_id=hub.pk,
            detail={"weeks": weeks, "created": len(created), "skipped": len(skipped)},
        )
    return Generated(created, sorted(skipped))


def add_closure(
    user: User, hub: Organisation, *, day: date, reason: str, site: Site | None = None
) -> Closure:
    """Close the hub (or one site) for a day. Its sessions that day stop offering slots; a day
    with appointments must have them moved or cancelled first."""
    check_admin(user, hub)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the hub is closed.", field_errors={"reason": ["Required."]})
    if site is not None and site.hub_id != hub.pk:
        raise NotPermitted("That site belongs to another hub.")
    with transaction.atomic():
        sessions = ClinicSession.objects.filter(site__hub=hub, date=day)
        if site is not None:
            sessions = sessions.filter(site=site)
        booked = Appointment.objects.filter(
            slot__session__in=sessions, status__in=HOLDS_SLOT
        ).count()
        if booked:
            raise InvalidInput(
                f"{booked} appointment(s) are booked on {day:%-d %B %Y}: move or cancel them "
                "before closing the day."
            )
        removed = sessions.filter(closed_reason="").update(closed_reason=reason[:200])
        closure = Closure.objects.create(hub=hub, site=site, date=day, reason=reason)
        record(
            user,
            "clinics.closure.create",
            closure,
            organisation_id=hub.pk,
            detail={"sessions_closed": removed},
        )
    return closure


@dataclass(frozen=True)
class WeekUse:
    """A week's capacity (places offered) and how many are booked or used."""

    week_start: date
    offered: int
    booked: int  # booked, or already seen (attended, did not attend, not photographed)
    attended: int
    did_not_attend: int

    @property
    def free(self) -> int:
        return self.offered - self.booked

    @property
    def utilisation(self) -> int:
        """Booked places as a whole percentage of those offered (0 when none are)."""
        return round(100 * self.booked / self.offered) if self.offered else 0


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def utilisation(
    hub: Organisation, *, start: date, weeks: int = 4, site: Site | None = None
) -> list[WeekUse]:
    """Capacity and utilisation of `hub` per week (Monday to Sunday) from the week of `start`:
    two queries, whatever the number of slots."""
    first = week_start(start)
    last = first + timedelta(days=7 * weeks)
    slots = Slot.objects.filter(
        session__site__hub=hub,
        session__date__gte=first,
        session__date__lt=last,
        session__closed_reason="",
    )
    if site is not None:
        slots = slots.filter(session__site=site)
    offered: dict[date, int] = {}
    for row in slots.values("session__date").annotate(n=Count("id")):
        key = week_start(row["session__date"])
        offered[key] = offered.get(key, 0) + row["n"]
    used: dict[tuple[date, str], int] = {}
    rows = (
        Appointment.objects.filter(slot__in=slots, status__in=HOLDS_SLOT)
        .values("slot__session__date", "status")
        .annotate(n=Count("id"))
    )
    for used_row in rows:
        key2 = (week_start(used_row["slot__session__date"]), used_row["status"])
        used[key2] = used.get(key2, 0) + used_row["n"]
    out = []
    for i in range(weeks):
        monday = first + timedelta(days=7 * i)
        booked = sum(n for (w, _), n in used.items() if w == monday)
        out.append(
            WeekUse(
                monday,
                offered.get(monday, 0),
                booked,
                used.get((monday, AppointmentStatus.ATTENDED), 0),
                used.get((monday, AppointmentStatus.DID_NOT_ATTEND), 0),
            )
        )
    return out
