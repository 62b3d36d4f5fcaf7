"""The clinics app's changes, in one place to import from: defining clinics (`schedule`) and
booking them (`booking`). Reads are in `reads` (each read of a patient audited)."""

from dermbridge.clinics.booking import (
    NEEDS_PHOTOGRAPHY_STATES,
    book,
    cancel,
    earliest_free_slot,
    free_slots,
    move,
    record_visit,
)
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

__all__ = [
    "NEEDS_PHOTOGRAPHY_STATES",
    "Generated",
    "WeekUse",
    "add_closure",
    "bank_holiday",
    "book",
    "cancel",
    "create_session",
    "create_site",
    "create_template",
    "earliest_free_slot",
    "free_slots",
    "generate_sessions",
    "move",
    "record_visit",
    "utilisation",
]
