"""The did-not-attend rule (issue #13): the first missed photography appointment puts the
referral back on the hub's booking list to be rebooked once; the second returns it to the GP
with a message (to the referrer and the practice mailbox, through the outbox) and the patient is
told. Counted per hub for the dashboard (`dna_counts`).

"Returned to the GP": a message from the hub on the referral and a step in its history, through
`referrals.services.return_to_gp` (clinics never writes the Referral table), with the hub kept on
the referral; it stops waiting on the hub's booking list (`reads._needing_appointment` leaves out
a referral with `DNA_LIMIT` missed appointments), and the GP, told by email and on the referral,
decides what next.
Applied by `services.record_visit` in the visit's own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dermbridge.accounts.models import Organisation, User
from dermbridge.audit.services import record
from dermbridge.clinics import messages
from dermbridge.clinics.models import Appointment, AppointmentStatus
from dermbridge.notifications.services import notify_patient_text, notify_referrer_text
from dermbridge.referrals import services as referral_services

# The missed appointment that returns the referral to the GP (the first is rebooked once).
DNA_LIMIT = 2


def missed(referral_id: int) -> int:
    """How many photography appointments the referral's patient did not attend."""
    return Appointment.objects.filter(
        referral_id=referral_id, status=AppointmentStatus.DID_NOT_ATTEND
    ).count()


def after_did_not_attend(user: User, appointment: Appointment, hub: Organisation) -> bool:
    """Apply the rule to a did-not-attend just recorded: True if the referral went back to
    the GP. Call inside the visit's transaction."""
    referral = appointment.referral
    patient = referral.patient
    count = missed(referral.pk)
    when, _ = messages.when_and_where(appointment)
    returned = count >= DNA_LIMIT
    if returned:
        line = (
            f"Referral {referral.reference}: the patient did not attend {count} skin photography "
            f"appointments at {hub.name} (the last on {when}). The hub has returned the referral "
            "to you: please contact the patient and decide whether to refer again."
        )
        # The message on the referral (the GP sees it there), through the referrals app; the
        # hub keeps it, so it can still book the patient by hand if the GP asks.
        referral_services.return_to_gp(
            referral,
            user=user,
            reason=(
                f"The patient did not attend {count} skin photography appointments (the last on "
                f"{when}). Please contact the patient and decide whether to refer again."
            ),
            release_hub=False,
        )
        notify_referrer_text(
            referral,
            "appointment_returned_to_gp",
            occurrence=f"appointment-{appointment.pk}",
            subject=f"DermBridge: referral {referral.reference} returned after missed appointments",
            body=f"{line}\n\nThe details are in DermBridge (you will be asked to sign in).\n",
        )
        patient_line = (
            f"You did not come to your skin photography appointment on {when}. As this is "
            "the second appointment missed, we have told your GP practice, who will contact "
            "you about what happens next."
        )
        sms = (
            f"NHS skin photography {referral.reference}: you missed your appointment on "
            f"{when}. We have told your GP practice, who will contact you."
        )
    else:
        patient_line = (
            f"You did not come to your skin photography appointment on {when}. {hub.name} "
            "will contact you with a new appointment. If you cannot come to that one, please "
            "tell them: a second missed appointment means the referral goes back to your GP."
        )
        sms = (
            f"NHS skin photography {referral.reference}: you missed your appointment on "
            f"{when}. {hub.name} will contact you with a new one."
        )
    notify_patient_text(
        referral,
        "appointment_missed",
        occurrence=f"appointment-{appointment.pk}",
        subject="You missed your skin photography appointment",
        body=(
            f"Hello {patient.given_name},\n\n{patient_line}\n\n"
            "If your skin gets worse, contact your GP practice or call NHS 111.\n"
        ),
        sms=sms,
    )
    record(
        user,
        "clinics.referral.did_not_attend",
        referral,
        organisation_id=hub.pk,
        detail={"appointment": appointment.pk, "missed": count, "returned_to_gp": returned},
    )
    return returned


@dataclass(frozen=True)
class DnaCounts:
    """A hub's did-not-attends between two dates (the appointment's day), for the dashboard:
    all of them, the first (rebooked once) and those that returned a referral to the GP."""

    did_not_attend: int
    rebooked: int
    returned_to_gp: int


def dna_counts(hub: Organisation, start: date, end: date) -> DnaCounts:
    """Did-not-attends at `hub` with the appointment from `start` to `end` inclusive. No patient
    is named, so nothing is audited."""
    rows = list(
        Appointment.objects.filter(
            slot__session__site__hub=hub,
            status=AppointmentStatus.DID_NOT_ATTEND,
            slot__session__date__gte=start,
            slot__session__date__lte=end,
        ).values_list("pk", "referral_id", "slot__starts_at")
    )
    # Which missed appointment each one was for its referral (first, second...), counting the
    # referral's missed appointments outside the range too.
    earlier: dict[int, list[tuple[object, int]]] = {}
    for pk, referral_id, starts_at in Appointment.objects.filter(
        referral_id__in={r for _, r, _ in rows}, status=AppointmentStatus.DID_NOT_ATTEND
    ).values_list("pk", "referral_id", "slot__starts_at"):
        earlier.setdefault(referral_id, []).append((starts_at, pk))
    returned = 0
    for pk, referral_id, _ in rows:
        order = sorted(earlier[referral_id], key=lambda item: (item[0], item[1]))
        if [p for _, p in order].index(pk) + 1 >= DNA_LIMIT:
            returned += 1
    total = len(rows)
    return DnaCounts(did_not_attend=total, rebooked=total - returned, returned_to_gp=returned)


__all__ = ["DNA_LIMIT", "DnaCounts", "after_did_not_attend", "dna_counts", "missed"]
