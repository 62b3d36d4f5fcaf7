"""FHIR reads and searches of a hub's clinics: ``Schedule``, ``Slot`` and ``Appointment``.

Only the hub's own staff (its photographers and service administrators, clinics/access.py)
see a hub's clinics: for anyone else a read finds nothing (the view answers 404 and records
the refusal) and a search matches nothing. Schedules and slots carry no patient and are not
audited; every appointment read or matched by a search is (``clinics.appointment.view_fhir``).

Search parameters (docs/interop.md): ``date``/``start`` with the FHIR prefixes eq, ge, gt, le,
lt (a day or a date-time, repeatable), ``actor``/``location`` (``Location/{site}``),
``schedule`` (``Schedule/{id}``), ``status``, ``patient.identifier`` (NHS number), ``hub``
(the hub's ODS code, for staff of more than one hub) and ``_count`` (at most 500 entries; the
``total`` counts every match).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from dermbridge.audit.services import batched, record
from dermbridge.clinics.access import staff_hubs
from dermbridge.clinics.models import HOLDS_SLOT, Appointment, ClinicSession, Slot
from dermbridge.core.errors import InvalidInput
from dermbridge.interop import codes
from dermbridge.interop.fhir.resources import validated
from dermbridge.interop.fhir.scheduling import (
    APPOINTMENT_STATUS,
    SITE_ID_SYSTEM,
    UNCONFIRMED,
    appointment_resource,
    schedule_resource,
    slot_resource,
)

if TYPE_CHECKING:
    from dermbridge.accounts.models import Organisation, User

DEFAULT_COUNT = 100
MAX_COUNT = 500
PREFIXES = ("eq", "ge", "gt", "le", "lt")
SEARCH_PARAMS = {
    "Schedule": ["date", "actor", "active", "hub", "_count"],
    "Slot": ["start", "schedule", "status", "hub", "_count"],
    "Appointment": [
        "date",
        "patient.identifier",
        "location",
        "actor",
        "status",
        "slot",
        "hub",
        "_count",
    ],
}
DATE_PARAMS = {"date", "start"}


@dataclass(frozen=True)
class Params:
    """A search's query parameters: each name with every value given."""

    values: dict[str, list[str]]

    @classmethod
    def of(cls, query: Any) -> Params:
        return cls({name: query.getlist(name) for name in query})

    def get(self, name: str) -> str:
        found = self.values.get(name) or [""]
        return found[-1]

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])


def _hubs(user: User, params: Params) -> list[Organisation]:
    hubs = staff_hubs(user)
    ods = params.get("hub")
    return [h for h in hubs if h.ods_code == ods] if ods else hubs


def _check_names(kind: str, params: Params) -> None:
    unknown = sorted(set(params.values) - set(SEARCH_PARAMS[kind]) - {"_format"})
    if unknown:
        raise InvalidInput(
            f"{kind} cannot be searched by {', '.join(unknown)}: "
            f"use {', '.join(SEARCH_PARAMS[kind])}."
        )


def _count(params: Params) -> int:
    raw = params.get("_count")
    if not raw:
        return DEFAULT_COUNT
    if not raw.isdigit():
        raise InvalidInput("_count must be a whole number.")
    return max(1, min(int(raw), MAX_COUNT))


def _id(raw: str, kind: str, name: str) -> int:
    """``Kind/123`` or ``123`` as 123."""
    value = raw.removeprefix(f"{kind}/")
    if not value.isdigit():
        raise InvalidInput(f"{name} must be {kind}/<id>.")
    return int(value)


def _site_id(raw: str, name: str) -> int:
    """``Location/{id}``, ``{id}``, or ``{system}|{id}`` (the site identifier)."""
    system, _, value = raw.rpartition("|")
    if system and system != SITE_ID_SYSTEM:
        raise InvalidInput(f"{name} must be Location/<id> or {SITE_ID_SYSTEM}|<id>.")
    return _id(value, "Location", name)


def date_bounds(values: Iterable[str], name: str) -> Q:
    """FHIR date search (``ge2026-12-01``, ``lt2026-12-08T12:00:00Z``, ``2026-12-03``) as a
    filter on the start time ``name`` (a day means the whole local day)."""
    found = Q()
    for raw in values:
        prefix, value = (raw[:2], raw[2:]) if raw[:2] in PREFIXES else ("eq", raw)
        moment = parse_datetime(value) if "T" in value else None
        day = parse_date(value) if "T" not in value else None
        if moment is None and day is None:
            raise InvalidInput(
                f"{name}={raw}: give a date (2026-12-01) or a date-time, "
                f"with eq, ge, gt, le or lt in front."
            )
        if moment is not None:
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            low, high = moment, moment
            inclusive_high = True
        else:
            assert day is not None
            low = timezone.make_aware(datetime.combine(day, time.min))
            high = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
            inclusive_high = False
        if prefix == "eq":
            found &= Q(**{f"{name}__gte": low}) & (
                Q(**{f"{name}__lte": high}) if inclusive_high else Q(**{f"{name}__lt": high})
            )
        elif prefix == "ge":
            found &= Q(**{f"{name}__gte": low})
        elif prefix == "gt":
            found &= Q(**{f"{name}__gt": high}) if inclusive_high else Q(**{f"{name}__gte": high})
        elif prefix == "le":
            found &= Q(**{f"{name}__lte": high}) if inclusive_high else Q(**{f"{name}__lt": high})
        else:  # lt
            found &= Q(**{f"{name}__lt": low})
    return found


def _session_date_bounds(values: Iterable[str]) -> Q:
    """Schedule's ``date``: the day of the session (a date-time counts as its local day)."""
    found = Q()
    for raw in values:
        prefix, value = (raw[:2], raw[2:]) if raw[:2] in PREFIXES else ("eq", raw)
        moment = parse_datetime(value) if "T" in value else None
        day: date | None = (
            timezone.localdate(moment) if moment and timezone.is_aware(moment) else None
        )
        if moment is not None and day is None:
            day = moment.date()
        if moment is None:
            day = parse_date(value)
        if day is None:
            raise InvalidInput(f"date={raw}: give a date (2026-12-01) with eq, ge, gt, le or lt.")
        lookup = {"eq": "", "ge": "__gte", "gt": "__gt", "le": "__lte", "lt": "__lt"}[prefix]
        found &= Q(**{f"date{lookup}": day})
    return found


def _searchset(kind: str, resources: list[dict[str, Any]], total: int) -> dict[str, Any]:
    entries = [
        {
            "fullUrl": f"{settings.SITE_URL}/fhir/{kind}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return validated(
        {"resourceType": "Bundle", "type": "searchset", "total": total, "entry": entries or None}
    )


# ---------------------------------------------------------------- Schedule


def _sessions(user: User, params: Params) -> QuerySet[ClinicSession]:
    return (
        ClinicSession.objects.filter(site__hub__in=_hubs(user, params))
        .select_related("site__hub")
        .prefetch_related("photographers")
        .order_by("date", "start", "id")
    )


def read_schedule(user: User, schedule_id: int) -> dict[str, Any] | None:
    session = _sessions(user, Params({})).filter(pk=schedule_id).first()
    return schedule_resource(session) if session else None


def search_schedules(user: User, params: Params) -> dict[str, Any]:
    _check_names("Schedule", params)
    found = _sessions(user, params).filter(_session_date_bounds(params.all("date")))
    if params.get("actor"):
        found = found.filter(site_id=_site_id(params.get("actor"), "actor"))
    active = params.get("active")
    if active in ("true", "false"):
        found = (
            found.filter(closed_reason="") if active == "true" else found.exclude(closed_reason="")
        )
    elif active:
        raise InvalidInput("active must be true or false.")
    total = found.count()
    return _searchset("Schedule", [schedule_resource(s) for s in found[: _count(params)]], total)


# ---------------------------------------------------------------- Slot


def _slots(user: User, params: Params) -> QuerySet[Slot]:
    return (
        Slot.objects.filter(session__site__hub__in=_hubs(user, params))
        .select_related("session")
        .annotate(held=Count("appointments", filter=Q(appointments__status__in=HOLDS_SLOT)))
        .order_by("starts_at", "place", "id")
    )


def read_slot(user: User, slot_id: int) -> dict[str, Any] | None:
    slot = _slots(user, Params({})).filter(pk=slot_id).first()
    return slot_resource(slot, held=bool(slot.held)) if slot else None  # type: ignore[attr-defined]


def search_slots(user: User, params: Params) -> dict[str, Any]:
    _check_names("Slot", params)
    found = _slots(user, params).filter(date_bounds(params.all("start"), "starts_at"))
    if params.get("schedule"):
        found = found.filter(session_id=_id(params.get("schedule"), "Schedule", "schedule"))
    status = params.get("status")
    if status:
        live = Q(held__gt=0)
        closed = ~Q(session__closed_reason="")
        by_status = {
            "free": ~live & ~closed,
            "busy": live & ~closed,
            "busy-unavailable": closed,
        }
        if status not in by_status:
            raise InvalidInput("status must be free, busy or busy-unavailable.")
        found = found.filter(by_status[status])
    total = found.count()
    return _searchset(
        "Slot",
        [slot_resource(s, held=bool(s.held)) for s in found[: _count(params)]],  # type: ignore[attr-defined]
        total,
    )


# ---------------------------------------------------------------- Appointment


def _appointments(user: User, params: Params) -> QuerySet[Appointment]:
    return (
        Appointment.objects.filter(slot__session__site__hub__in=_hubs(user, params))
        .select_related("slot__session__site__hub", "referral__patient")
        .order_by("slot__starts_at", "slot__place", "id")
    )


def _audit(user: User, rows: list[Appointment], via: str) -> None:
    with batched():
        for appointment in rows:
            record(
                user,
                "clinics.appointment.view_fhir",
                appointment,
                organisation_id=appointment.slot.session.site.hub_id,
                detail={"referral": appointment.referral.reference, "via": via},
            )


def read_appointment(user: User, appointment_id: int) -> dict[str, Any] | None:
    """One of the user's hubs' appointments (audited), or None."""
    found = _appointments(user, Params({})).filter(pk=appointment_id).first()
    if found is None:
        return None
    _audit(user, [found], "read")
    return appointment_resource(found)


def search_appointments(user: User, params: Params) -> dict[str, Any]:
    """The appointments matching the search, each matched one audited."""
    _check_names("Appointment", params)
    found = _appointments(user, params).filter(date_bounds(params.all("date"), "slot__starts_at"))
    raw = params.get("patient.identifier")
    if raw:
        system, _, value = raw.rpartition("|")
        if not value or system not in ("", codes.NHS_NUMBER_SYSTEM):
            raise InvalidInput(
                f"Search by patient.identifier={codes.NHS_NUMBER_SYSTEM}|<NHS number>."
            )
        digits = "".join(ch for ch in value if ch.isdigit())
        found = found.filter(referral__patient__nhs_number=digits)
    for name in ("location", "actor"):
        if params.get(name):
            found = found.filter(slot__session__site_id=_site_id(params.get(name), name))
    if params.get("slot"):
        found = found.filter(slot_id=_id(params.get("slot"), "Slot", "slot"))
    status = params.get("status")
    if status:
        # "booked" and "pending" are both DermBridge's booked, told apart by the patient's
        # confirmation (scheduling.appointment_status).
        ours = [k for k, v in APPOINTMENT_STATUS.items() if v == status]
        known = sorted({*APPOINTMENT_STATUS.values(), UNCONFIRMED})
        if status == UNCONFIRMED:
            found = found.filter(status="booked", confirmed_at__isnull=True)
        elif not ours:
            raise InvalidInput(f"status must be one of {', '.join(known)}.")
        elif status == "booked":
            found = found.filter(status="booked", confirmed_at__isnull=False)
        else:
            found = found.filter(status__in=ours)
    total = found.count()
    rows = list(found[: _count(params)])
    _audit(user, rows, "search")
    return _searchset("Appointment", [appointment_resource(a) for a in rows], total)
