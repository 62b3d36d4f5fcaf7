"""The clinics app's changes, in one place to import from: defining clinics (`schedule`),
booking them (`booking`), the visit and the did-not-attend rule (`attendance`), reminders
(`reminders`) and the patient's answers through their status link (`patient`). Reads are in
`reads` (each read of a patient audited)."""

from __future__ import annotations

from django.db import transaction

from dermbridge.accounts.models import Organisation, User
from dermbridge.clinics import booking, results
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
from dermbridge.clinics.visit import (
    add_extra_lesion,
    attended_problems,
    confirm_identity,
    photo_checklist,
    record_consent,
)
from dermbridge.core.errors import InvalidInput
from dermbridge.notifications.services import notify_patient_text
from dermbridge.referrals import services as referral_services
from dermbridge.referrals.models import Referral


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
        elif done.status == AppointmentStatus.ATTENDED:
            # Attended means photographed: identity, consent for care and every lesion's set.
            problems = attended_problems(done)
            if problems:
                raise InvalidInput(
                    "The visit cannot be recorded as attended yet: "
                    + " ".join(problems)
                    + " If the patient could not be photographed, record that with the reason.",
                    field_errors={"outcome": problems},
                )
            results.start(done)
            done.save(update_fields=["result_due_at", "result_warn_at", "result_warned_at"])
    return done


def send_for_photography(
    user: User, referral: Referral, *, hub: Organisation, reason: str
) -> Referral:
    """The reviewing dermatologist sends a sent referral to `hub` for better photos (the
    request for more information, `referrals.services.send_to_hub`): it joins the hub's booking
    list, the referrer is told, and the patient is told a hub will offer an appointment."""
    with transaction.atomic():
        referral_services.send_to_hub(referral, user=user, hub=hub, reason=reason)
        referral = Referral.objects.select_related("patient").get(pk=referral.pk)
        notify_patient_text(
            referral,
            "sent_for_photography",
            occurrence=f"hub-{hub.pk}-{referral.state_changes.order_by('-id').values_list('id', flat=True).first()}",
            subject="Your skin referral: new photographs are needed",
            body=(
                f"Hello {referral.patient.given_name},\n\n"
                "The dermatologist looking at your referral would like clearer photographs of "
                f"your skin. {hub.name} will contact you to offer an appointment with a clinical "
                "photographer. You do not need to do anything until they do.\n\n"
                "If your skin gets worse, contact your GP practice or call NHS 111.\n"
            ),
            sms=(
                f"NHS skin referral {referral.reference}: new photographs are needed. "
                f"{hub.name} will contact you with an appointment."
            ),
        )
    return referral


__all__ = [
    "DNA_LIMIT",
    "NEEDS_PHOTOGRAPHY_STATES",
    "DnaCounts",
    "Generated",
    "WeekUse",
    "add_closure",
    "add_extra_lesion",
    "ask_to_rebook",
    "attended_problems",
    "bank_holiday",
    "book",
    "cancel",
    "confirm",
    "confirm_identity",
    "create_session",
    "create_site",
    "create_template",
    "dna_counts",
    "earliest_free_slot",
    "free_slots",
    "generate_sessions",
    "move",
    "photo_checklist",
    "queue_reminders",
    "record_consent",
    "record_visit",
    "reminder_day",
    "send_for_photography",
    "utilisation",
]
