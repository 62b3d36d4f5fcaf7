"""Clinics' periodic work (queued by `core/scheduler.py`): reminders two working days before
each photography appointment. Safe to run twice: each appointment is reminded once."""

from __future__ import annotations

from django_tasks import task

from dermbridge.clinics import reminders


@task(queue_name="notifications")
def send_appointment_reminders() -> int:
    """Queue the appointment reminders due today (and any a missed run left): the number."""
    return reminders.queue_reminders()
