"""Booking, moving and cancelling photography appointments, and recording the visit.

The double-booking guarantee (docs/adr/0013-clinics.md): the slot row is locked
(`select_for_update`) before it is checked and booked, so two members of staff booking the same
slot at once take turns and the second is told it has gone (409); the partial unique index
`one_appointment_per_slot` makes a second live appointment in one slot impossible whatever the
code does. The referral's row is locked too, so one referral is not booked twice at once.

The patient is told each booking, move and cancellation through the notifications outbox, in
the same transaction (clinics sits above notifications: docs/adr/0010-boundaries.md).
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from dermbridge.accounts.models import Organisation, User
from dermbridge.audit.services import record
from dermbridge.clinics import messages
from dermbridge.clinics.access import check_staff
from dermbridge.clinics.models import (
    HOLDS_SLOT,
    VISIT_OUTCOMES,
    Appointment,
    AppointmentStatus,
    Site,
    Slot,
)
from dermbridge.core.errors import InvalidInput, NotPermitted, TransitionNotAllowed
from dermbridge.notifications.services import issue_status_link, notify_patient_text
from dermbridge.referrals.models import Referral, State

# A referral waits for a hub appointment while it is a draft naming the hub (the GP sent it
# for photography) or the service has asked for more information (better photos).
NEEDS_PHOTOGRAPHY_STATES = (State.DRAFT, State.MORE_INFO_REQUESTED)


def free_slots(site: Site, *, after: datetime | None = None) -> QuerySet[Slot]:
    """The site's slots from `after` (default now) that nobody holds, earliest first."""
    taken = Appointment.objects.filter(slot=OuterRef("pk"), status__in=HOLDS_SLOT)
    return (
        Slot.objects.filter(
            session__site=site,
            session__closed_reason="",
            starts_at__gte=after or timezone.now(),
        )
        .exclude(Exists(taken))
        .select_related("session__site")
        .order_by("starts_at", "place")
    )


def earliest_free_slot(site: Site, *, after: datetime | None = None) -> Slot | None:
    return free_slots(site, after=after).first()


def _lock_referral(referral: Referral, hub: Organisation) -> Referral:
    locked = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("patient")
        .get(pk=referral.pk)
    )
    if locked.imaging_hub_id != hub.pk:
        raise NotPermitted(f"This referral was not sent to {hub.name}.")
    if locked.state not in NEEDS_PHOTOGRAPHY_STATES:
        raise TransitionNotAllowed(
            f"Referral {locked.reference} is {locked.get_state_display().lower()}: it no "
            "longer needs photographs."
        )
    return locked


def _lock_free_slot(slot: Slot, hub: Organisation) -> Slot:
    locked = (
        Slot.objects.select_for_update(of=("self",)).select_related("session__site").get(pk=slot.pk)
    )
    if locked.session.site.hub_id != hub.pk:
        raise NotPermitted("That slot belongs to another hub.")
    if locked.session.closed_reason:
        raise TransitionNotAllowed(f"That clinic is closed: {locked.session.closed_reason}.")
    if locked.starts_at < timezone.now():
        raise TransitionNotAllowed("That slot has already started.")
    if Appointment.objects.filter(slot=locked, status__in=HOLDS_SLOT).exists():
        raise TransitionNotAllowed(
            "That slot has just been booked by someone else: choose another."
        )
    return locked


def _pick_slot(hub: Organisation, slot: Slot | None, site: Site | None) -> Slot:
    if slot is not None:
        return _lock_free_slot(slot, hub)
    if site is None:
        raise InvalidInput("Choose a site or a slot.", field_errors={"site": ["Required."]})
    if site.hub_id != hub.pk:
        raise NotPermitted("That site belongs to another hub.")
    # Skip slots another booking holds locked right now (PostgreSQL): take the next one.
    candidate = free_slots(site).select_for_update(of=("self",), skip_locked=True).first()
    if candidate is None:
        raise TransitionNotAllowed(f"{site.name} has no free slots: add a clinic first.")
    return _lock_free_slot(candidate, hub)


def _create(
    referral: Referral, slot: Slot, user: User, moved_from: Appointment | None
) -> Appointment:
    try:
        with transaction.atomic():  # a savepoint: the constraint's refusal leaves the rest
            return Appointment.objects.create(
                slot=slot, referral=referral, booked_by=user, moved_from=moved_from
            )
    except IntegrityError:
        # Only reachable if the lock was bypassed: the index is the last word.
        raise TransitionNotAllowed(
            "That slot has just been booked by someone else: choose another."
        ) from None


def _tell_patient(appointment: Appointment, event: str) -> None:
    # A booked or moved appointment carries the patient's status link: confirm it or ask to
    # rebook (clinics/patient.py).
    link = "" if event == "appointment_cancelled" else issue_status_link(appointment.referral)
    subject, body, sms = messages.patient_text(appointment, event, link)
    notify_patient_text(
        appointment.referral,
        event,
        occurrence=f"appointment-{appointment.pk}",
        subject=subject,
        body=body,
        sms=sms,
    )


def book(
    user: User,
    referral: Referral,
    *,
    hub: Organisation,
    slot: Slot | None = None,
    site: Site | None = None,
) -> Appointment:
    """Book `referral` into `slot`, or the earliest free slot at `site`; the patient is told."""
    check_staff(user, hub)
    with transaction.atomic():
        locked = _lock_referral(referral, hub)
        if Appointment.objects.filter(referral=locked, status=AppointmentStatus.BOOKED).exists():
            raise TransitionNotAllowed(
                f"Referral {locked.reference} already has an appointment: move it instead."
            )
        chosen = _pick_slot(hub, slot, site)
        appointment = _create(locked, chosen, user, None)
        record(
            user,
            "clinics.appointment.book",
            appointment,
            organisation_id=hub.pk,
            detail={"referral": locked.reference, "slot": chosen.pk},
        )
        _tell_patient(appointment, "appointment_booked")
    return appointment


def _lock_appointment(appointment: Appointment, hub: Organisation) -> Appointment:
    locked = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("slot__session__site", "referral__patient")
        .get(pk=appointment.pk)
    )
    if locked.slot.session.site.hub_id != hub.pk:
        raise NotPermitted("That appointment belongs to another hub.")
    if locked.status != AppointmentStatus.BOOKED:
        raise TransitionNotAllowed(
            f"This appointment is {locked.get_status_display().lower()}: it cannot be changed."
        )
    return locked


# The visit's steps (clinics/visit.py) lock the appointment the same way.
lock_appointment = _lock_appointment


def move(
    user: User,
    appointment: Appointment,
    *,
    hub: Organisation,
    slot: Slot | None = None,
    site: Site | None = None,
) -> Appointment:
    """Move a booked appointment to `slot` (or the earliest free one at `site`): the old one
    is kept as moved, the new one points back at it; the patient is told."""
    check_staff(user, hub)
    with transaction.atomic():
        old = _lock_appointment(appointment, hub)
        chosen = _pick_slot(hub, slot, site)
        old.status = AppointmentStatus.MOVED
        old.save(update_fields=["status"])
        new = _create(old.referral, chosen, user, old)
        record(
            user,
            "clinics.appointment.move",
            new,
            organisation_id=hub.pk,
            detail={
                "referral": old.referral.reference,
                "from_slot": old.slot_id,
                "slot": chosen.pk,
            },
        )
        _tell_patient(new, "appointment_moved")
    return new


def cancel(user: User, appointment: Appointment, *, hub: Organisation, reason: str) -> Appointment:
    """Cancel a booked appointment (its slot is free again); the referral goes back on the
    booking list and the patient is told."""
    check_staff(user, hub)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why it is cancelled.", field_errors={"reason": ["Required."]})
    with transaction.atomic():
        locked = _lock_appointment(appointment, hub)
        locked.status = AppointmentStatus.CANCELLED
        locked.reason = reason[:300]
        locked.outcome_by = user
        locked.outcome_at = timezone.now()
        locked.save(update_fields=["status", "reason", "outcome_by", "outcome_at"])
        record(
            user,
            "clinics.appointment.cancel",
            locked,
            organisation_id=hub.pk,
            detail={"referral": locked.referral.reference, "reason": reason[:300]},
        )
        _tell_patient(locked, "appointment_cancelled")
    return locked


def record_visit(
    user: User, appointment: Appointment, *, hub: Organisation, outcome: str, reason: str = ""
) -> Appointment:
    """Attended, did not attend, or could not be photographed (with the reason), recorded on
    the day of the appointment or after it."""
    check_staff(user, hub)
    if outcome not in VISIT_OUTCOMES:
        raise InvalidInput(
            "Choose attended, did not attend or could not be photographed.",
            field_errors={"outcome": ["Choose one."]},
        )
    reason = reason.strip()
    if outcome == AppointmentStatus.NOT_PHOTOGRAPHED and not reason:
        raise InvalidInput(
            "Say why the patient could not be photographed.",
            field_errors={"reason": ["Required."]},
        )
    with transaction.atomic():
        locked = _lock_appointment(appointment, hub)
        if timezone.localdate(locked.slot.starts_at) > timezone.localdate():
            raise TransitionNotAllowed("The appointment has not happened yet.")
        locked.status = outcome
        locked.reason = reason[:300]
        locked.outcome_by = user
        locked.outcome_at = timezone.now()
        locked.save(update_fields=["status", "reason", "outcome_by", "outcome_at"])
        record(
            user,
            "clinics.appointment.visit",
            locked,
            organisation_id=hub.pk,
            detail={"referral": locked.referral.reference, "outcome": outcome},
        )
    return locked
