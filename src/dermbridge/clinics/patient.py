"""The patient's side of a photography appointment, through their status link (no login: the
link is the key).

The status page shows the booked appointment in plain English (`status_section`, received from
the status page's `status_page_sections` signal), and the patient may confirm it or ask to rebook
it (`confirm`, `ask_to_rebook`). Each answer names the appointment the page showed: it changes
only that appointment, only while it is booked and has not started, and only if it belongs to the
link's referral. Another patient's link, an expired link, or an appointment moved or cancelled
since the page was opened changes nothing, and the patient is told so. Answering twice is one
answer. Each change is audited as the patient link (no user, the link's id in the detail).

Asking to rebook cancels the appointment (its slot is free for someone else) and puts the
referral back on the hub's booking list, marked with the patient's note. A moved appointment is
a new row, so the patient confirms it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from dermbridge.audit.services import record
from dermbridge.clinics import messages
from dermbridge.clinics.models import Appointment, AppointmentStatus
from dermbridge.notifications.services import notify_patient_text, resolve_status_link
from dermbridge.notifications.status import StatusSection
from dermbridge.referrals.models import Referral

NOTE_LIMIT = 300

NO_LINK = (
    "This link does not work, or the appointment is not one it can change. Nothing has been "
    "changed. Open the link from the latest message we sent you, or contact the clinic."
)
CHANGED = (
    "This appointment has changed since the page was opened (it may have been moved or "
    "cancelled). Nothing has been changed. Open your link again to see your appointment now."
)


@dataclass(frozen=True)
class Answer:
    """What happened to the patient's answer: `outcome` (confirmed, already_confirmed,
    rebook_requested, already_asked, changed, no_link), the words shown, the HTTP status."""

    outcome: str
    message: str
    status: int

    @property
    def changed_nothing(self) -> bool:
        return self.outcome in ("changed", "no_link")


def _sentence(appointment: Appointment) -> str:
    when, where = messages.when_and_where(appointment)
    return f"Your photography appointment is on {when}, at {where}."


def status_section(referral: Referral) -> StatusSection | None:
    """The appointment part of the patient's status page: the booked appointment, or the
    patient's request to rebook while the hub finds a new one; None when there is neither."""
    latest = (
        Appointment.objects.filter(referral=referral)
        .select_related("slot__session__site__hub")
        .order_by("-booked_at", "-id")
        .first()
    )
    if latest is None:
        return None
    hub = latest.slot.session.site.hub
    if latest.status == AppointmentStatus.BOOKED and latest.slot.starts_at > timezone.now():
        return StatusSection(
            "clinics/status_appointment.html",
            {
                "appointment": latest,
                "sentence": _sentence(latest),
                "what_to_bring": messages.WHAT_TO_BRING,
                "hub": hub,
                "confirmed": latest.confirmed_at is not None,
                "moved": latest.moved_from_id is not None,
                "note_limit": NOTE_LIMIT,
            },
        )
    if latest.status == AppointmentStatus.CANCELLED and latest.rebook_requested_at:
        return StatusSection(
            "clinics/status_appointment.html",
            {"appointment": latest, "asked_to_rebook": True, "hub": hub},
        )
    return None


def _locked(holder_referral_id: int, appointment_id: int) -> Appointment | None:
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("slot__session__site", "referral__patient")
        .filter(pk=appointment_id, referral_id=holder_referral_id)
        .first()
    )


def _open(appointment: Appointment) -> bool:
    return (
        appointment.status == AppointmentStatus.BOOKED
        and appointment.slot.starts_at > timezone.now()
    )


def confirm(token: str, appointment_id: int) -> Answer:
    """The patient confirms the appointment their status page showed."""
    holder = resolve_status_link(token)
    if holder is None:
        return Answer("no_link", NO_LINK, 404)
    with transaction.atomic():
        appointment = _locked(holder.referral_id, appointment_id)
        if appointment is None:
            return Answer("no_link", NO_LINK, 404)
        if not _open(appointment):
            return Answer("changed", CHANGED, 409)
        if appointment.confirmed_at is not None:
            return Answer("already_confirmed", "You have already confirmed it. Thank you.", 200)
        appointment.confirmed_at = timezone.now()
        appointment.save(update_fields=["confirmed_at"])
        record(
            None,
            "clinics.appointment.confirm",
            appointment,
            organisation_id=appointment.slot.session.site.hub_id,
            detail={"link": holder.link_id, "referral": appointment.referral.reference},
        )
    return Answer(
        "confirmed",
        f"Thank you: you have confirmed your appointment. {_sentence(appointment)}",
        200,
    )


def ask_to_rebook(token: str, appointment_id: int, note: str = "") -> Answer:
    """The patient cannot come: the appointment is cancelled, the referral waits on the hub's
    booking list marked "patient asked to rebook" with their note, and they are sent word."""
    holder = resolve_status_link(token)
    if holder is None:
        return Answer("no_link", NO_LINK, 404)
    note = " ".join(note.split())[:NOTE_LIMIT]
    with transaction.atomic():
        appointment = _locked(holder.referral_id, appointment_id)
        if appointment is None:
            return Answer("no_link", NO_LINK, 404)
        if (
            appointment.status == AppointmentStatus.CANCELLED
            and appointment.rebook_requested_at is not None
        ):
            return Answer("already_asked", "You have already asked for a new appointment.", 200)
        if not _open(appointment):
            return Answer("changed", CHANGED, 409)
        now = timezone.now()
        appointment.status = AppointmentStatus.CANCELLED
        appointment.rebook_requested_at = now
        appointment.outcome_at = now
        appointment.patient_note = note
        appointment.reason = "The patient asked to rebook"
        appointment.save(
            update_fields=["status", "rebook_requested_at", "outcome_at", "patient_note", "reason"]
        )
        record(
            None,
            "clinics.appointment.rebook_request",
            appointment,
            organisation_id=appointment.slot.session.site.hub_id,
            detail={
                "link": holder.link_id,
                "referral": appointment.referral.reference,
                "note": bool(note),
            },
        )
        hub = appointment.slot.session.site.hub
        when, _ = messages.when_and_where(appointment)
        notify_patient_text(
            appointment.referral,
            "appointment_rebook_requested",
            occurrence=f"appointment-{appointment.pk}",
            subject="We have your request for a new skin photography appointment",
            body=(
                f"Hello {appointment.referral.patient.given_name},\n\n"
                f"You asked to change your skin photography appointment on {when}. It has been "
                f"cancelled, and {hub.name} will contact you with a new one.\n\n"
                "If your skin gets worse before then, contact your GP practice or call NHS 111.\n"
            ),
            sms=(
                f"NHS skin photography {appointment.referral.reference}: your appointment on "
                f"{when} is cancelled as you asked. {hub.name} will contact you with a new one."
            ),
        )
    return Answer(
        "rebook_requested",
        f"Thank you. Your appointment has been cancelled and {hub.name} will contact you with "
        "a new one.",
        200,
    )
