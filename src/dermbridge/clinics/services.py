"""The clinics app's changes, in one place to import from: defining clinics (`schedule`),
booking them (`booking`), the visit and the did-not-attend rule (`attendance`), reminders
(`reminders`) and the patient's answers through their status link (`patient`). Reads are in
`reads` (each read of a patient audited)."""

from __future__ import annotations

from django.db import transaction

from dermbridge.accounts.models import Organisation, User
from dermbridge.clinics import booking
from dermbridge.clinics.attendance import DNA_LIMIT, DnaCounts, after_did_not_attend, dna_counts
from dermbridge.clinics.booking import (
    NEEDS_PHOTOGRAPHY_STATES,
    book,
    cancel,
    earliest_free_slot,
    free_slots,
    move,
)
from dermbridge.clinics.models import Appointment, AppointmentStatus
from dermbridge.clinics.patient import ask_to_rebook, confirm
from dermbridge.clinics.reminders import queue_reminders, reminder_day
from dermbridge.clinics.schedule import (
    Generated,
    WeekUse,
    add_closure,
    bank_holiday,
    create_session,
    create_site,
    create_template,
    generate_sessions,
    utilisation,
)


def record_visit(
    user: User, appointment: Appointment, *, hub: Organisation, outcome: str, reason: str = ""
) -> Appointment:
    """Attended, did not attend, or could not be photographed (with the reason); a did-not-
    attend follows the rule (rebook once, then back to the GP: `attendance`), in one
    transaction."""
    with transaction.atomic():
        done = booking.record_visit(user, appointment, hub=hub, outcome=outcome, reason=reason)
        if done.status == AppointmentStatus.DID_NOT_ATTEND:
            after_did_not_attend(user, done, hub)
    return done


__all__ = [
    "DNA_LIMIT",
    "NEEDS_PHOTOGRAPHY_STATES",
    "DnaCounts",
    "Generated",
    "WeekUse",
    "add_closure",
    "ask_to_rebook",
    "bank_holiday",
    "book",
    "cancel",
    "confirm",
    "create_session",
    "create_site",
    "create_template",
    "dna_counts",
    "earliest_free_slot",
    "free_slots",
    "generate_sessions",
    "move",
    "queue_reminders",
    "record_visit",
    "reminder_day",
    "utilisation",
]
