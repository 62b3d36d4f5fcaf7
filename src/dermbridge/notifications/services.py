"""The notification outbox: rows written in the caller's transaction, sent by the worker."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dermbridge.notifications import messages
from dermbridge.notifications.models import Channel, OutboxMessage, PatientStatusLink
from dermbridge.patients.models import ContactPreference

if TYPE_CHECKING:
    from dermbridge.accounts.models import User
    from dermbridge.referrals.models import Referral


def issue_status_link(referral: Referral) -> str:
    """Create a new patient status link and return its URL (the token is stored only hashed)."""
    token = secrets.token_urlsafe(32)
    PatientStatusLink.objects.create(
        referral=referral,
        token_sha256=PatientStatusLink.hash_token(token),
        expires_at=timezone.now() + timedelta(days=settings.PATIENT_LINK_DAYS),
    )
    return f"{settings.SITE_URL}/status/{token}/"


def _queue(referral: Referral, *, channel: str, recipient: str, event: str, subject: str,
           body: str, occurrence: str) -> None:
    if not recipient:
        return
    message, created = OutboxMessage.objects.get_or_create(
        dedupe_key=f"{event}:{referral.pk}:{occurrence}:{channel}:{recipient}",
        defaults={"channel": channel, "recipient": recipient, "subject": subject, "body": body,
                  "referral": referral, "event": event},
    )
    if created:
        from dermbridge.notifications.tasks import send_outbox_message

        transaction.on_commit(lambda: send_outbox_message.enqueue(message.pk))


def _notify_patient(referral: Referral, event: str, occurrence: str) -> None:
    patient = referral.patient
    if patient.contact_preference == ContactPreference.LETTER:
        return
    link = issue_status_link(referral)
    text = messages.patient_message(referral, event, link)
    if text is None:
        return
    subject, body, sms = text
    if patient.contact_preference == ContactPreference.EMAIL:
        _queue(referral, channel=Channel.EMAIL, recipient=patient.email, event=event,
               subject=subject, body=body, occurrence=occurrence)
    else:
        _queue(referral, channel=Channel.SMS, recipient=patient.mobile, event=event,
               subject="", body=sms, occurrence=occurrence)


def _notify_staff(referral: Referral, event: str, recipients: list[str], occurrence: str) -> None:
    subject, body = messages.staff_message(referral, event)
    for email in sorted(set(filter(None, recipients))):
        _queue(referral, channel=Channel.EMAIL, recipient=email, event=event, subject=subject,
               body=body, occurrence=occurrence)


def _referring_emails(referral: Referral) -> list[str]:
    return [referral.referrer.email, referral.referring_org.email]


def _service_emails(referral: Referral) -> list[str]:
    from dermbridge.accounts.models import Role

    staff = referral.service.memberships.filter(role__in=[Role.DERMATOLOGIST, Role.SERVICE_ADMIN])
    return [referral.service.email, *staff.values_list("user__email", flat=True)]


def notify_referral_event(referral: Referral, event: str, *, exclude_user: User | None = None) -> None:
    """Queue the messages an event owes patient and clinicians. Call inside the transaction."""
    occurrence = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    if event in ("submitted", "outcome", "converted", "withdrawn"):
        _notify_patient(referral, event, occurrence)
    if event in ("outcome", "info_requested", "converted"):
        _notify_staff(referral, event, _referring_emails(referral), occurrence)
    if event == "near_breach":
        _notify_staff(referral, event, _service_emails(referral), "once")
    if event == "message":
        side = _service_emails(referral) if exclude_user and exclude_user.has_role(
            "referrer", referral.referring_org_id) else _referring_emails(referral)
        side = [e for e in side if not exclude_user or e != exclude_user.email]
        _notify_staff(referral, event, side, occurrence)
