"""Reminders two working days before a photography appointment (England and Wales bank holidays
and weekends skipped: an appointment on the Tuesday after a bank holiday Monday is reminded on
the Thursday before).

`queue_reminders` is run by the scheduler (`clinics.tasks.send_appointment_reminders`). It
reminds each booked appointment once, by the patient's channel through the outbox: the message's
dedupe key is the appointment (`reminder-<id>`), and `reminded_at` is set in the same
transaction, so running it twice, or two workers at once, queues one reminder. A run that was
missed catches up the next time (the appointment not yet started); moved and cancelled
appointments are never reminded (the new appointment of a move is, in its turn). An appointment
booked on or after its reminder day is not reminded: the booking message is just as fresh.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from dermbridge.clinics import messages
from dermbridge.clinics.models import Appointment, AppointmentStatus
from dermbridge.notifications.services import issue_status_link, notify_patient_text
from dermbridge.referrals.clocks import is_working_day

REMINDER_WORKING_DAYS = 2
# Two working days never span more than this many calendar days (Christmas and a weekend).
HORIZON_DAYS = 14


def reminder_day(appointment_day: date) -> date:
    """The working day `REMINDER_WORKING_DAYS` working days before `appointment_day`."""
    day, counted = appointment_day, 0
    while counted < REMINDER_WORKING_DAYS:
        day -= timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


def reminder_text(appointment: Appointment, link: str) -> tuple[str, str, str]:
    """(subject, email or letter body, SMS text): when, where, what to bring, and the link to
    confirm or ask to rebook."""
    referral = appointment.referral
    hub = appointment.slot.session.site.hub
    when, where = messages.when_and_where(appointment)
    body = (
        f"Hello {referral.patient.given_name},\n\n"
        f"This is a reminder of your skin photography appointment on {when} at {where}.\n\n"
        f"{messages.WHAT_TO_BRING}\n\n"
        f"Please confirm you can come, or ask for a new appointment, here:\n{link}\n\n"
        f"Your reference is {referral.reference}. {hub.name} runs the clinic.\n\n"
        "If your skin gets worse before then, contact your GP practice or call NHS 111.\n\n"
        "DermBridge for your local NHS dermatology service\n"
    )
    sms = (
        f"NHS skin photography {referral.reference}: reminder, {when} at {where}. "
        f"Confirm or ask to rebook: {link}"
    )
    return "Reminder: your skin photography appointment", body, sms


def _remind(appointment_id: int, now: datetime) -> bool:
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("slot__session__site__hub", "referral__patient")
            .filter(pk=appointment_id, status=AppointmentStatus.BOOKED, reminded_at__isnull=True)
            .first()
        )
        if appointment is None or appointment.slot.starts_at <= now:
            return False  # moved, cancelled or reminded since the scan: nothing to do
        subject, body, sms = reminder_text(appointment, issue_status_link(appointment.referral))
        notify_patient_text(
            appointment.referral,
            "appointment_reminder",
            occurrence=f"reminder-{appointment.pk}",
            subject=subject,
            body=body,
            sms=sms,
        )
        appointment.reminded_at = now
        appointment.save(update_fields=["reminded_at"])
    return True


def queue_reminders(*, now: datetime | None = None) -> int:
    """Queue the reminders due by today (`now`'s local date); the number queued."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    candidates = Appointment.objects.filter(
        status=AppointmentStatus.BOOKED,
        reminded_at__isnull=True,
        slot__starts_at__gt=now,
        slot__starts_at__lt=now + timedelta(days=HORIZON_DAYS),
    ).values_list("pk", "slot__starts_at", "booked_at")
    queued = 0
    for pk, starts_at, booked_at in candidates:
        due = reminder_day(timezone.localdate(starts_at))
        if due > today or timezone.localdate(booked_at) >= due:
            continue
        queued += _remind(pk, now)
    return queued
