"""What a hub's staff read, each read of a patient written to the audit trail (one layer audits
reads: core/tests/test_boundaries.py). Pages and the API call these; a lookup that finds
nothing the user may see returns None and the caller answers 404."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from dermbridge.accounts.models import Organisation, User
from dermbridge.audit.services import record
from dermbridge.clinics.access import check_staff, staff_hubs
from dermbridge.clinics.attendance import DNA_LIMIT
from dermbridge.clinics.booking import NEEDS_PHOTOGRAPHY_STATES, earliest_free_slot
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
from dermbridge.clinics.schedule import WeekUse, utilisation
from dermbridge.clinics.visit import LesionPhotos, attended_problems, photo_checklist
from dermbridge.referrals.clocks import FDS_DAYS
from dermbridge.referrals.models import Lesion, Referral

BOOKING_LIST_LIMIT = 500


@dataclass
class Waiting:
    """A referral on the hub's booking list, with its clock."""

    referral: Referral
    referred_at: datetime
    waiting_days: int
    fds_due: datetime | None  # urgent suspected cancer: the 28-day Faster Diagnosis Standard
    fds_days_left: int | None
    previous: list[Appointment] = field(default_factory=list)


def _needing_appointment(hub: Organisation) -> QuerySet[Referral]:
    holding = Appointment.objects.filter(
        referral=OuterRef("pk"),
        status__in=(AppointmentStatus.BOOKED, AppointmentStatus.ATTENDED),
    )
    # The did-not-attend rule: after DNA_LIMIT missed appointments the referral has gone back
    # to the GP and no longer waits here (clinics/attendance.py).
    missed = (
        Appointment.objects.filter(referral=OuterRef("pk"), status=AppointmentStatus.DID_NOT_ATTEND)
        .order_by()
        .values("referral")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Referral.objects.filter(imaging_hub=hub, state__in=NEEDS_PHOTOGRAPHY_STATES)
        .exclude(Exists(holding))
        .annotate(missed=Coalesce(Subquery(missed), 0))
        .exclude(missed__gte=DNA_LIMIT)
        .select_related("patient", "referring_org")
        .prefetch_related(
            Prefetch(
                "appointments",
                queryset=Appointment.objects.filter(
                    Q(
                        status__in=(
                            AppointmentStatus.DID_NOT_ATTEND,
                            AppointmentStatus.NOT_PHOTOGRAPHED,
                        )
                    )
                    # The patient asked to rebook (through their status link), with their note.
                    | Q(rebook_requested_at__isnull=False)
                ).select_related("slot"),
                to_attr="previous_visits",
            )
        )
        # Urgent suspected cancer first (priority_rank 0), then the longest waiting.
        .order_by("priority_rank", "created_at", "id")
    )


def _clock(referral: Referral, now: datetime) -> Waiting:
    referred = referral.submitted_at or referral.created_at
    due = referred + timedelta(days=FDS_DAYS) if referral.is_usc else None
    return Waiting(
        referral=referral,
        referred_at=referred,
        waiting_days=(now - referred).days,
        fds_due=due,
        fds_days_left=(due - now).days if due else None,
        previous=list(getattr(referral, "previous_visits", [])),
    )


def booking_list(user: User, hub: Organisation) -> list[Waiting]:
    """The hub's referrals that need an appointment: USC first, then longest waiting. The
    references listed are audited ("clinics.booking_list.view")."""
    check_staff(user, hub)
    now = timezone.now()
    rows = list(_needing_appointment(hub)[:BOOKING_LIST_LIMIT])
    record(
        user,
        "clinics.booking_list.view",
        hub,
        organisation_id=hub.pk,
        detail={"referrals": [r.reference for r in rows]},
    )
    return [_clock(r, now) for r in rows]


@dataclass
class BookingChoice:
    """A referral to book, its appointments so far, and the earliest free slot at each site."""

    waiting: Waiting | None  # None: it has a live appointment (shown in `appointments`)
    referral: Referral
    appointments: list[Appointment]
    earliest: list[tuple[Site, Slot | None]]

    @property
    def missed(self) -> int:
        return sum(a.status == AppointmentStatus.DID_NOT_ATTEND for a in self.appointments)

    @property
    def returned_to_gp(self) -> bool:
        """The did-not-attend rule sent it back to the GP (clinics/attendance.py)."""
        return self.waiting is None and self.missed >= DNA_LIMIT


def referral_for_booking(user: User, hub: Organisation, referral_id: int) -> BookingChoice | None:
    """A referral sent to this hub, for booking; None if it was not (audited as a view)."""
    check_staff(user, hub)
    referral = (
        Referral.objects.filter(pk=referral_id, imaging_hub=hub)
        .select_related("patient", "referring_org")
        .first()
    )
    if referral is None:
        return None
    record(user, "clinics.referral.view", referral, organisation_id=hub.pk)
    appointments = list(
        Appointment.objects.filter(referral=referral)
        .select_related("slot__session__site")
        .order_by("-booked_at", "-id")
    )
    waiting_row = _needing_appointment(hub).filter(pk=referral.pk).first()
    sites = list(Site.objects.filter(hub=hub))
    return BookingChoice(
        waiting=_clock(waiting_row, timezone.now()) if waiting_row else None,
        referral=referral,
        appointments=appointments,
        earliest=[(site, earliest_free_slot(site)) for site in sites],
    )


@dataclass
class DayList:
    day: date
    site: Site | None
    photographer: User | None
    appointments: list[Appointment]


def day_list(
    user: User,
    hub: Organisation,
    *,
    day: date,
    site: Site | None = None,
    photographer: User | None = None,
) -> DayList:
    """A day's appointments at the hub (one site, one photographer's sessions, or all), in time
    order, each with its referral, patient and the lesions to photograph. Audited with every
    reference shown ("clinics.day_list.view")."""
    check_staff(user, hub)
    appointments = Appointment.objects.filter(
        slot__session__site__hub=hub,
        slot__session__date=day,
        status__in=HOLDS_SLOT,
    )
    if site is not None:
        appointments = appointments.filter(slot__session__site=site)
    if photographer is not None:
        appointments = appointments.filter(slot__session__photographers=photographer)
    rows = list(
        appointments.select_related("slot__session__site", "referral__patient")
        .prefetch_related(Prefetch("referral__lesions", queryset=Lesion.objects.order_by("number")))
        .order_by("slot__starts_at", "slot__place")
        .distinct()
    )
    record(
        user,
        "clinics.day_list.view",
        hub,
        organisation_id=hub.pk,
        detail={
            "day": day.isoformat(),
            "site": site.pk if site else None,
            "photographer": photographer.pk if photographer else None,
            "referrals": [a.referral.reference for a in rows],
        },
    )
    return DayList(day, site, photographer, rows)


def visit_of_referral(user: User, appointment_id: int, referral_id: int) -> Appointment | None:
    """The appointment a photographer came from to one of the referral's photo pages, if it is
    one of their hub's appointments for that referral (for the way back; the photo page audits
    its own view)."""
    hubs = staff_hubs(user)
    if not hubs:
        return None
    return (
        Appointment.objects.filter(
            pk=appointment_id, referral_id=referral_id, slot__session__site__hub__in=hubs
        )
        .select_related("slot__session__site")
        .first()
    )


def appointment(user: User, hub: Organisation, appointment_id: int) -> Appointment | None:
    """One of the hub's appointments (audited as a view), or None."""
    check_staff(user, hub)
    found = (
        Appointment.objects.filter(pk=appointment_id, slot__session__site__hub=hub)
        .select_related("slot__session__site", "referral__patient")
        .first()
    )
    if found is not None:
        record(
            user,
            "clinics.appointment.view",
            found,
            organisation_id=hub.pk,
            detail={"referral": found.referral.reference},
        )
    return found


def appointments(user: User, hub: Organisation, *, start: date, end: date) -> QuerySet[Appointment]:
    """The hub's appointments from `start` to `end` inclusive (the caller audits the page it
    shows with `audit_listed`)."""
    check_staff(user, hub)
    return (
        Appointment.objects.filter(
            slot__session__site__hub=hub,
            slot__session__date__gte=start,
            slot__session__date__lte=end,
        )
        .select_related("slot__session__site", "referral__patient")
        .order_by("slot__starts_at", "slot__place", "id")
    )


def audit_listed(user: User, hub: Organisation, rows: list[Appointment]) -> None:
    record(
        user,
        "clinics.appointment.list",
        hub,
        organisation_id=hub.pk,
        detail={"referrals": sorted({a.referral.reference for a in rows})},
    )


def slots(
    user: User, hub: Organisation, *, start: date, end: date, site: Site | None = None
) -> QuerySet[Slot]:
    """The hub's open slots from `start` to `end` with how many live appointments each holds
    (0 or 1). No patient data: not audited."""
    check_staff(user, hub)
    query = Slot.objects.filter(
        session__site__hub=hub,
        session__date__gte=start,
        session__date__lte=end,
        session__closed_reason="",
    )
    if site is not None:
        query = query.filter(session__site=site)
    return (
        query.select_related("session__site")
        .annotate(held=Count("appointments", filter=Q(appointments__status__in=HOLDS_SLOT)))
        .order_by("starts_at", "place", "id")
    )


@dataclass
class HubOverview:
    hub: Organisation
    sites: list[Site]
    templates: list[SessionTemplate]
    closures: list[Closure]
    sessions: list[ClinicSession]  # the coming two weeks, each with `offered` and `held`
    weeks: list[WeekUse]
    waiting: int


def hub_overview(user: User, hub: Organisation, *, today: date | None = None) -> HubOverview:
    """The hub page: sites, weekly templates, closures, the next two weeks' clinics and
    capacity and utilisation for four weeks. Counts only, no patient: not audited."""
    check_staff(user, hub)
    today = today or timezone.localdate()
    sessions = (
        ClinicSession.objects.filter(
            site__hub=hub, date__gte=today, date__lt=today + timedelta(days=14)
        )
        .select_related("site")
        .prefetch_related("photographers")
        .annotate(
            offered=Count("slots", distinct=True),
            held=Count(
                "slots__appointments",
                filter=Q(slots__appointments__status__in=HOLDS_SLOT),
                distinct=True,
            ),
        )
        .order_by("date", "start", "site__name")
    )
    return HubOverview(
        hub=hub,
        sites=list(Site.objects.filter(hub=hub)),
        templates=list(
            SessionTemplate.objects.filter(site__hub=hub, active=True)
            .select_related("site")
            .prefetch_related("photographers")
        ),
        closures=list(Closure.objects.filter(hub=hub, date__gte=today).select_related("site")),
        sessions=list(sessions),
        weeks=utilisation(hub, start=today, weeks=4),
        waiting=_needing_appointment(hub).count(),
    )


@dataclass
class Visit:
    """One appointment at the visit: the patient to check, consent so far, the lesions and
    their photos (those added at the hub flagged), and what still stops "attended"."""

    appointment: Appointment
    lesions: list[LesionPhotos]
    problems: list[str]


def visit(user: User, hub: Organisation, appointment_id: int) -> Visit | None:
    """The visit page's appointment (audited as "clinics.visit.view"), or None if it is not
    one of this hub's."""
    check_staff(user, hub)
    found = (
        Appointment.objects.filter(pk=appointment_id, slot__session__site__hub=hub)
        .select_related(
            "slot__session__site",
            "referral__patient",
            "referral__service",
            "referral__referring_org",
            "identity_checked_by",
            "consent_recorded_by",
        )
        .first()
    )
    if found is None:
        return None
    record(
        user,
        "clinics.visit.view",
        found,
        organisation_id=hub.pk,
        detail={"referral": found.referral.reference},
    )
    lesions = photo_checklist(found)
    return Visit(
        appointment=found,
        lesions=lesions,
        problems=attended_problems(found, lesions),
    )
