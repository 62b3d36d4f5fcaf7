"""What the patient is told when a photography appointment is booked, moved or cancelled.

Like every patient message, these never name a diagnosis; they say when and where to come and
what to bring."""

from __future__ import annotations

from django.utils import timezone

from dermbridge.clinics.models import Appointment

SUBJECTS = {
    "appointment_booked": "Your skin photography appointment",
    "appointment_moved": "Your skin photography appointment has changed",
    "appointment_cancelled": "Your skin photography appointment has been cancelled",
}

WHAT_TO_BRING = (
    "Please bring a list of any medicines you take. Do not put make-up, fake tan or cream on "
    "the skin to be photographed that day. A clinical photographer will photograph only the "
    "areas your GP asked about; you can bring someone with you."
)


def when_and_where(appointment: Appointment) -> tuple[str, str]:
    slot = appointment.slot
    site = slot.session.site
    when = f"{timezone.localtime(slot.starts_at):%A %-d %B %Y at %-I:%M%p}".replace("AM", "am")
    return when.replace("PM", "pm"), f"{site.name}, {site.address.replace(chr(10), ', ')}"


def patient_text(appointment: Appointment, event: str, link: str = "") -> tuple[str, str, str]:
    """(subject, email or letter body, SMS text); `link`, the patient's status link, where
    they confirm the appointment or ask to rebook it (clinics/patient.py)."""
    referral = appointment.referral
    patient = referral.patient
    hub = appointment.slot.session.site.hub
    when, where = when_and_where(appointment)
    if hub.patient_phone:
        hours = f" ({hub.patient_phone_hours})" if hub.patient_phone_hours else ""
        contact = f"To change it, call {hub.name} on {hub.patient_phone}{hours}"
    else:
        contact = f"To change it, contact {hub.name} or your GP practice"
    contact += f" and give your reference, {referral.reference}."
    if event == "appointment_cancelled":
        lines = (
            f"Your skin photography appointment on {when} at {where} has been cancelled.\n\n"
            f"{hub.name} will contact you with a new appointment. {contact}"
        )
        sms = (
            f"NHS skin photography {referral.reference}: your appointment on {when} is "
            f"cancelled. {hub.name} will contact you with a new one."
        )
    else:
        changed = "has changed. It is now" if event == "appointment_moved" else "is"
        answer = (
            f"Please confirm you can come, or ask for a new appointment, here:\n{link}\n\n"
            if link
            else ""
        )
        lines = (
            f"Your skin photography appointment {changed} on {when} at {where}.\n\n"
            f"{WHAT_TO_BRING}\n\n{answer}{contact}"
        )
        sms = " ".join(
            part
            for part in (
                f"NHS skin photography {referral.reference}: {when} at {where}.",
                f"Confirm or ask to rebook: {link}" if link else "",
                contact.replace("To change it, c", "To change, c"),
            )
            if part
        )
    body = (
        f"Hello {patient.given_name},\n\n{lines}\n\n"
        "If your skin gets worse before then, contact your GP practice or call NHS 111.\n\n"
        "DermBridge for your local NHS dermatology service\n"
    )
    return SUBJECTS[event], body, sms
