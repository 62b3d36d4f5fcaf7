"""A hub's clinics as FHIR R4 ``Schedule``, ``Slot`` and ``Appointment``: pure mapping functions.

One ``Schedule`` per clinic session (``ClinicSession``), not per site and photographer: the
session is what a hub defines, closes and staffs (its site, day, hours and photographers), every
slot belongs to exactly one, and a slot is a place, not a named photographer's time (capacity 2
is two photographers working side by side). A closed day is ``Schedule.active = false`` and its
slots ``busy-unavailable``. The site is a ``Location`` named by a DermBridge identifier (this
server does not serve Location); the patient is named by NHS number and as ``Patient/{id}`` on
this server; the referral as ``ServiceRequest/{reference}``. See docs/interop.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from dermbridge.interop import codes as c
from dermbridge.interop.fhir.resources import validated

if TYPE_CHECKING:
    from dermbridge.clinics.models import Appointment, ClinicSession, Site, Slot

SITE_ID_SYSTEM = f"{c.DERMBRIDGE_ID}/clinic-site"
APPOINTMENT_ID_SYSTEM = f"{c.DERMBRIDGE_ID}/clinic-appointment"
APPOINTMENT_STATUS_SYSTEM = f"{c.DERMBRIDGE_CS}/clinic-appointment-status"
SERVICE_TYPE = {"text": "Clinical photography of skin lesions (teledermatology)"}

# DermBridge's appointment status -> FHIR Appointment.status. The photographer's outcome is
# kept exactly as DermBridge's own code in Appointment.appointmentType.
APPOINTMENT_STATUS = {
    "booked": "booked",
    "attended": "fulfilled",
    "did_not_attend": "noshow",
    # The patient came but no photograph could be taken (reason in the comment): the visit
    # happened, so fulfilled; the outcome code says what happened.
    "not_photographed": "fulfilled",
    "moved": "cancelled",
    "cancelled": "cancelled",
}


# A booked appointment the patient has not yet confirmed through their status link: the hub
# (the Location) has accepted it, the patient not yet, which FHIR R4 calls "pending" ("some or
# all of the participants have not finalized their acceptance"); confirmed, it is "booked".
UNCONFIRMED = "pending"


def appointment_status(appointment: Appointment) -> str:
    """Appointment.status: DermBridge's status, with a booked appointment the patient has not
    confirmed "pending" rather than "booked"."""
    if appointment.status == "booked" and appointment.confirmed_at is None:
        return UNCONFIRMED
    return APPOINTMENT_STATUS[appointment.status]


def patient_participation(appointment: Appointment) -> str:
    """The patient participant's status: accepted once they confirmed (or came), declined when
    they asked to rebook, else needs-action (told, not answered)."""
    if appointment.rebook_requested_at is not None:
        return "declined"
    if appointment.confirmed_at is not None or appointment.status in (
        "attended",
        "not_photographed",
    ):
        return "accepted"
    return "needs-action"


def _local(day: Any, at: Any) -> str:
    return timezone.make_aware(datetime.combine(day, at)).isoformat()


def location_reference(site: Site) -> dict[str, Any]:
    return {
        "type": "Location",
        "identifier": {"system": SITE_ID_SYSTEM, "value": str(site.pk)},
        "display": f"{site.name}, {site.hub.name}",
    }


def schedule_resource(session: ClinicSession) -> dict[str, Any]:
    """A clinic session (needs ``site__hub`` and ``photographers`` loaded)."""
    actors = [location_reference(session.site)] + [
        {"type": "Practitioner", "display": str(p)} for p in session.photographers.all()
    ]
    return validated(
        {
            "resourceType": "Schedule",
            "id": str(session.pk),
            "active": not session.closed_reason,
            "serviceType": [SERVICE_TYPE],
            "actor": actors,
            "planningHorizon": {
                "start": _local(session.date, session.start),
                "end": _local(session.date, session.end),
            },
            "comment": (
                f"Closed: {session.closed_reason}"
                if session.closed_reason
                else f"{session.slot_minutes}-minute slots, {session.capacity} patient"
                f"{'s' if session.capacity != 1 else ''} at once"
            ),
        }
    )


def slot_resource(slot: Slot, *, held: bool) -> dict[str, Any]:
    """One place in a session: free, busy (a live appointment holds it) or busy-unavailable
    (the day was closed)."""
    status = "busy-unavailable" if slot.session.closed_reason else ("busy" if held else "free")
    return validated(
        {
            "resourceType": "Slot",
            "id": str(slot.pk),
            "serviceType": [SERVICE_TYPE],
            "schedule": {"reference": f"Schedule/{slot.session_id}"},
            "status": status,
            "start": slot.starts_at.isoformat(),
            "end": slot.ends_at.isoformat(),
        }
    )


def appointment_resource(appointment: Appointment) -> dict[str, Any]:
    """A photography appointment (needs ``slot__session__site__hub`` and ``referral__patient``)."""
    slot = appointment.slot
    referral = appointment.referral
    patient = referral.patient
    status = appointment_status(appointment)
    cancelled = status == "cancelled"
    comment = None
    if appointment.reason:
        comment = f"{appointment.get_status_display()}: {appointment.reason}"
    return validated(
        {
            "resourceType": "Appointment",
            "id": str(appointment.pk),
            "identifier": [{"system": APPOINTMENT_ID_SYSTEM, "value": str(appointment.pk)}],
            "status": status,
            "cancelationReason": {"text": appointment.get_status_display()} if cancelled else None,
            "serviceType": [SERVICE_TYPE],
            "appointmentType": {
                "coding": [
                    {
                        "system": APPOINTMENT_STATUS_SYSTEM,
                        "code": appointment.status,
                        "display": appointment.get_status_display(),
                    }
                ]
            },
            "priority": 1 if referral.is_usc else 5,
            "start": slot.starts_at.isoformat(),
            "end": slot.ends_at.isoformat(),
            "slot": [{"reference": f"Slot/{slot.pk}"}],
            "created": appointment.booked_at.isoformat(),
            "comment": comment,
            "basedOn": [{"reference": f"ServiceRequest/{referral.reference}"}],
            "participant": [
                {
                    "actor": {
                        "reference": f"Patient/{patient.pk}",
                        "type": "Patient",
                        "identifier": {"system": c.NHS_NUMBER_SYSTEM, "value": patient.nhs_number},
                    },
                    "required": "required",
                    "status": patient_participation(appointment),
                },
                {
                    "actor": location_reference(slot.session.site),
                    "required": "required",
                    "status": "accepted",
                },
            ],
        }
    )
