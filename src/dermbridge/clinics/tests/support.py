"""Builders for the clinics tests: a hub with an administrator, a photographer, a site and a
clinic, and referrals sent to it for photography."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from dermbridge.accounts.models import Organisation, OrganisationKind, Role, User
from dermbridge.clinics import services
from dermbridge.clinics.models import Appointment, ClinicSession, Site
from dermbridge.clinics.schedule import _make_session, bank_holiday
from dermbridge.clinics.visit import HUB_SET
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.testing import World, attach_ready_image, make_referral, make_user


@dataclass
class Hub:
    world: World
    hub: Organisation
    admin: User  # the hub's service administrator
    photographer: User  # world.pat
    site: Site


def next_working_day(after: date | None = None) -> date:
    day = (after or timezone.localdate()) + timedelta(days=1)
    while day.weekday() >= 5 or bank_holiday(day):
        day += timedelta(days=1)
    return day


def make_hub(world: World) -> Hub:
    admin = make_user("hana.admin", world.hub, Role.SERVICE_ADMIN)
    site = services.create_site(
        admin, world.hub, name="Northgate Health Centre", address="1 High Street\nNorthgate"
    )
    return Hub(world, world.hub, admin, world.pat, site)


def make_clinic(
    h: Hub, day: date | None = None, *, capacity: int = 1, slots: int = 4
) -> ClinicSession:
    return services.create_session(
        h.admin,
        h.site,
        day=day or next_working_day(),
        start=time(9, 0),
        end=(datetime.combine(date.min, time(9)) + timedelta(minutes=15 * slots)).time(),
        slot_minutes=15,
        capacity=capacity,
        photographers=[h.photographer],
    )


def clinic_today(h: Hub) -> ClinicSession:
    """A clinic today from midnight (the services refuse to book a slot that has started;
    the day-list tests book straight into it)."""
    return _make_session(
        h.site, timezone.localdate(), time(0, 0), time(1, 0), 30, 1, [h.photographer]
    )


def hub_referral(
    h: Hub,
    *,
    kind: str = ReferralKind.TRIAGE,
    state: str = State.DRAFT,
    referrer: User | None = None,
) -> Referral:
    """A referral sent to the hub for photography: its lesions named, no photos."""
    images = state != State.DRAFT  # a sent referral needs its photos
    referral = make_referral(h.world, state=state, kind=kind, images=images, referrer=referrer)
    Referral.objects.filter(pk=referral.pk).update(imaging_hub=h.hub)
    referral.refresh_from_db()
    return referral


def other_hub(world: World) -> tuple[Organisation, User, User]:
    """Another hub with its own photographer and administrator."""
    hub_b, _ = Organisation.objects.get_or_create(
        ods_code="Y09999",
        defaults={"kind": OrganisationKind.IMAGING_HUB, "name": "Southgate Photo Hub"},
    )
    return (
        hub_b,
        make_user("pia", hub_b, Role.PHOTOGRAPHER),
        make_user("olga.admin", hub_b, Role.SERVICE_ADMIN),
    )


def ready_to_attend(h: Hub, appointment: Appointment) -> Appointment:
    """The visit's steps done through the services: identity checked, consent for care (not
    teaching or research), and an overview, close-up and dermoscopic photo of every lesion."""
    services.confirm_identity(
        h.photographer, appointment, hub=h.hub, name=True, date_of_birth=True, nhs_number=True
    )
    services.record_consent(
        h.photographer, appointment, hub=h.hub, care="yes", teaching="no", research="no"
    )
    for lesion in appointment.referral.lesions.all():
        for image_type in HUB_SET:
            attach_ready_image(lesion, image_type, h.photographer)
    appointment.refresh_from_db()
    return appointment
