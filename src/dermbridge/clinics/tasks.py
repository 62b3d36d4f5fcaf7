"""Clinics' periodic work (queued by `core/scheduler.py`): reminders two working days before
each photography appointment, and the warning that a visit's result is nearly due. Safe to run
twice: each appointment is reminded once, each visit warned once."""

from __future__ import annotations

from django_tasks import task

from dermbridge.clinics import reminders, results


@task(queue_name="notifications")
def send_appointment_reminders() -> int:
    """Queue the appointment reminders due today (and any a missed run left): the number."""
    return reminders.queue_reminders()


@task(queue_name="notifications")
def warn_near_results() -> int:
    """Warn the service of hub visits whose result is near its target: the number warned."""
    return results.warn_near_results()
