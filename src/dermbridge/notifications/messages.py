"""The words of each notification. Patient texts never name the diagnosis: they point to the
status link, which shows only what the patient needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from dermbridge.notifications.status import describe

if TYPE_CHECKING:
    from dermbridge.referrals.models import Referral

PATIENT_SUBJECTS = {
    "submitted": "Your skin referral has been sent",
    "outcome": "A skin specialist has replied about your referral",
    "converted": "Your skin referral has changed",
    "withdrawn": "Your skin referral has been closed",
}


def patient_message(
    referral: Referral, event: str, link: str, *, letter: bool = False
) -> tuple[str, str, str] | None:
    """(subject, email or letter body, SMS text) for a patient, or None if nothing is owed."""
    subject = PATIENT_SUBJECTS.get(event)
    if subject is None:
        return None
    status = describe(referral)
    when = ""
    if status.by_when is not None:
        # The same date, with the same words, as the status page: one date per step.
        when = f"\n{status.when_label} {timezone.localtime(status.by_when):%A %-d %B %Y}.\n"
    if status.service_phone:
        hours = f" ({status.service_phone_hours})" if status.service_phone_hours else ""
        contact = (
            f"Questions about your referral: call {status.service_name} on "
            f"{status.service_phone}{hours} and give your reference, {referral.reference}.\n\n"
        )
    else:
        contact = (
            f"Your referral is with {status.service_name}. Your GP practice can answer your "
            f"questions: give them your reference, {referral.reference}.\n\n"
        )
    patient = referral.patient
    greeting = (
        f"Dear {patient.given_name} {patient.family_name}"
        if letter
        else f"Hello {patient.given_name}"
    )
    marks = ""
    if letter and status.lesions:
        # A posted letter may be all the patient reads: it says what was found for each mark
        # (the status page's list), not only the next step.
        lines = "\n".join(f"- {where}: {what}. {then}" for where, what, then in status.lesions)
        marks = f"\nEach mark the skin specialist looked at:\n{lines}\n"
    body = (
        f"{greeting},\n\n"
        f"{status.pathway} (reference {referral.reference}).\n\n"
        f"{status.stage}.\n{status.next_step}\n{marks}{when}\n"
        f"See the latest at any time, without logging in:\n{link}\n\n"
        f"{contact}"
        "If your skin gets worse, contact your GP practice or call NHS 111.\n\n"
        "DermBridge for your local NHS dermatology service\n"
    )
    sms = f"NHS skin referral {referral.reference}: {status.stage}. Details: {link}"
    return subject, body, sms


def referral_url(referral: Referral) -> str:
    """The referral's page (behind sign-in): the same address for the practice and the service."""
    return settings.SITE_URL + reverse("referral-detail", args=[referral.pk])


def staff_message(referral: Referral, event: str) -> tuple[str, str]:
    """Messages to clinicians carry the reference and a link; the detail is behind sign-in."""
    texts = {
        "outcome": "The dermatology service has answered referral {ref}.",
        "info_requested": "The dermatologist needs more information for referral {ref}.",
        "converted": "Advice request {ref} has been converted to a referral.",
        "near_breach": "Referral {ref} is close to its response target.",
        "message": "There is a new message on referral {ref}.",
    }
    line = texts.get(event, "Referral {ref} has been updated.").format(ref=referral.reference)
    return (
        f"DermBridge: {line}",
        f"{line}\n\nOpen it (you will be asked to sign in):\n{referral_url(referral)}\n",
    )
