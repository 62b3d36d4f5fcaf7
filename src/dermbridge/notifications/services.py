"""The notification outbox (the patient status links are in links.py, re-exported here).

Messages are rows written in the caller's transaction (so a message exists exactly when the event
does) and handed over by the task worker after commit. Handing over happens outside any database
transaction: an SMTP server that takes ten seconds to answer must not hold a lock on the database.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dermbridge.audit.services import record
from dermbridge.notifications import messages
from dermbridge.notifications.channels import DeliveryError, EmailChannel, sms_channel

# The patient's status links live in links.py; callers import them from here too.
from dermbridge.notifications.links import (  # noqa: F401 - re-exported
    TOKEN_PATTERN,
    LinkHolder,
    issue_status_link,
    open_status_link,
    resolve_status_link,
    status_page_sections,
)
from dermbridge.notifications.models import (
    Channel,
    OutboxMessage,
    OutboxStatus,
)
from dermbridge.patients.models import ContactPreference

if TYPE_CHECKING:
    from dermbridge.accounts.models import User
    from dermbridge.referrals.models import Referral

log = logging.getLogger(__name__)

# A message that still fails after this many hand-overs is marked failed for a person to see.
MAX_ATTEMPTS = 5
# Wait before attempt n+1 after a temporary failure of attempt n: 1 min, 5 min, 30 min, 2 h.
BACKOFF_SECONDS = (60, 300, 1800, 7200)
# How long one worker's hand-over may take before another worker may try the message again
# (it only matters when a worker died mid-send; SMTP itself times out after EMAIL_TIMEOUT).
CLAIM_SECONDS = 300
# The first send is queued on commit; the periodic retry leaves new messages alone this long.
FIRST_SEND_GRACE_SECONDS = 120

PATIENT_EVENTS = ("submitted", "outcome", "converted", "withdrawn")
REFERRER_EVENTS = ("outcome", "info_requested", "converted")


# ---------------------------------------------------------------- queueing


def _dedupe_key(event: str, referral_id: int, occurrence: str, channel: str, recipient: str) -> str:
    # Hashed: recipients can be long, and the key should not be an index of addresses.
    raw = f"{event}:{referral_id}:{occurrence}:{channel}:{recipient.lower()}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _queue(
    referral: Referral,
    *,
    channel: str,
    recipient: str,
    event: str,
    subject: str,
    body: str,
    occurrence: str,
) -> None:
    message, created = OutboxMessage.objects.get_or_create(
        dedupe_key=_dedupe_key(event, referral.pk, occurrence, channel, recipient),
        defaults={
            "channel": channel,
            "recipient": recipient,
            "subject": subject,
            "body": body,
            "referral": referral,
            "event": event,
        },
    )
    if created and channel != Channel.LETTER:  # letters wait for a person to post them
        from dermbridge.notifications.tasks import send_outbox_message

        pk = message.pk
        transaction.on_commit(lambda: send_outbox_message.enqueue(pk))


def _notify_patient(referral: Referral, event: str, occurrence: str) -> None:
    """By the patient's contact preference. A letter-only patient, or one whose address or
    number is missing, gets a letter the dermatology service prints and posts (Letters to
    post): every patient is told, whatever their means."""
    patient = referral.patient
    if event not in messages.PATIENT_SUBJECTS:
        return
    email, mobile = patient.email.strip(), patient.mobile.strip()
    if patient.contact_preference == ContactPreference.EMAIL and email:
        channel, recipient = Channel.EMAIL, email
    elif patient.contact_preference == ContactPreference.SMS and mobile:
        channel, recipient = Channel.SMS, mobile
    else:
        # The postal address lives in the service's patient administration system.
        channel, recipient = Channel.LETTER, f"patient-{patient.pk}"
    text = messages.patient_message(
        referral, event, issue_status_link(referral), letter=channel == Channel.LETTER
    )
    if text is None:
        return
    subject, body, sms = text
    if channel in (Channel.EMAIL, Channel.LETTER):
        _queue(
            referral,
            channel=channel,
            recipient=recipient,
            event=event,
            subject=subject,
            body=body,
            occurrence=occurrence,
        )
    else:
        _queue(
            referral,
            channel=channel,
            recipient=recipient,
            event=event,
            subject="",
            body=sms,
            occurrence=occurrence,
        )


def notify_patient_text(
    referral: Referral, event: str, *, occurrence: str, subject: str, body: str, sms: str
) -> None:
    """Queue words another app wrote (a photography appointment booked, moved, cancelled:
    `clinics`) to the patient by their contact preference, as `_notify_patient` does: email,
    SMS, or a letter to post. Call inside the transaction that made the change; the same
    (event, occurrence) queued twice is one message."""
    patient = referral.patient
    email, mobile = patient.email.strip(), patient.mobile.strip()
    if patient.contact_preference == ContactPreference.EMAIL and email:
        channel, recipient, text = Channel.EMAIL, email, body
    elif patient.contact_preference == ContactPreference.SMS and mobile:
        channel, recipient, text, subject = Channel.SMS, mobile, sms, ""
    else:
        channel, recipient, text = Channel.LETTER, f"patient-{patient.pk}", body
    _queue(
        referral,
        channel=channel,
        recipient=recipient,
        event=event,
        subject=subject,
        body=text,
        occurrence=occurrence,
    )


def notify_referrer_text(
    referral: Referral, event: str, *, occurrence: str, subject: str, body: str
) -> None:
    """Queue words another app wrote (a patient returned to the GP after missed photography
    appointments: `clinics`) by email to the referrer and the referring practice's mailbox. Call
    inside the transaction that made the change; the same (event, occurrence) is one message."""
    _email_each(referral, _referring_emails(referral), event, occurrence, subject, body)


def notify_service_text(
    referral: Referral, event: str, *, occurrence: str, subject: str, body: str
) -> None:
    """Queue words another app wrote (a hub visit's result clock near its target: `clinics`) by
    email to the service mailbox, its dermatologists and administrators, as near_breach goes.
    Call inside the transaction; the same (event, occurrence) is one message."""
    _email_each(referral, _service_emails(referral), event, occurrence, subject, body)


def _email_each(
    referral: Referral,
    emails: Iterable[str | None],
    event: str,
    occurrence: str,
    subject: str,
    body: str,
) -> None:
    """One email to each distinct address (case and spaces ignored), in a stable order."""
    for email in sorted({e.strip().lower() for e in emails if e and e.strip()}):
        _queue(
            referral,
            channel=Channel.EMAIL,
            recipient=email,
            event=event,
            subject=subject,
            body=body,
            occurrence=occurrence,
        )


def _notify_staff(referral: Referral, event: str, recipients: list[str], occurrence: str) -> None:
    subject, body = messages.staff_message(referral, event)
    for email in sorted({e.strip().lower() for e in recipients if e and e.strip()}):
        _queue(
            referral,
            channel=Channel.EMAIL,
            recipient=email,
            event=event,
            subject=subject,
            body=body,
            occurrence=occurrence,
        )


def _referring_emails(referral: Referral) -> list[str]:
    """The referrer and their practice (or hub) mailbox."""
    return [referral.referrer.email, referral.referring_org.email]


def _service_emails(referral: Referral) -> list[str]:
    """The service mailbox, its dermatologists and its administrators."""
    from dermbridge.accounts.models import Role

    staff = referral.service.memberships.filter(role__in=[Role.DERMATOLOGIST, Role.SERVICE_ADMIN])
    return [referral.service.email, *staff.values_list("user__email", flat=True)]


def _occurrence(referral: Referral, event: str) -> str:
    """What makes this event distinct, so that the same event queued twice is one message."""
    if event == "near_breach":
        # Once per target: a converted referral has a new clock and may be warned again.
        return f"due-{referral.due_at:%Y%m%dT%H%M}" if referral.due_at else "due-none"
    if event == "message":
        latest_message = referral.messages.order_by("-id").values_list("id", flat=True).first()
        return f"message-{latest_message}"
    latest_change = referral.state_changes.order_by("-id").values_list("id", flat=True).first()
    if latest_change is None:
        return timezone.now().strftime("%Y%m%dT%H%M%S%f")
    return f"change-{latest_change}"


def notify_referral_event(
    referral: Referral, event: str, *, exclude_user: User | None = None
) -> None:
    """Queue the messages an event owes patient and clinicians. Call inside the transaction.

    submitted/outcome/converted/withdrawn: the patient, by their contact preference.
    outcome/info_requested/converted: the referrer and the referring practice.
    near_breach: the service mailbox, dermatologists and administrators.
    message: the other side of the conversation from `exclude_user`.
    """
    occurrence = _occurrence(referral, event)
    if event in PATIENT_EVENTS:
        _notify_patient(referral, event, occurrence)
    if event in REFERRER_EVENTS:
        _notify_staff(referral, event, _referring_emails(referral), occurrence)
    if event == "near_breach":
        _notify_staff(referral, event, _service_emails(referral), occurrence)
    if event == "message":
        from_service = exclude_user is not None and (
            referral.service_id in exclude_user.organisation_ids()
        )
        side = _referring_emails(referral) if from_service else _service_emails(referral)
        if exclude_user is not None:
            side = [e for e in side if e.strip().lower() != exclude_user.email.strip().lower()]
        _notify_staff(referral, event, side, occurrence)


# ---------------------------------------------------------------- sending


@dataclass(frozen=True)
class _Claimed:
    channel: str
    recipient: str
    subject: str
    body: str
    attempt: int


def _claim(message_id: int) -> _Claimed | None:
    """Take the message for one hand-over, or None if it is sent, failed, or someone has it."""
    now = timezone.now()
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status != OutboxStatus.PENDING:
            return None
        if message.channel == Channel.LETTER:
            return None  # posted by a person, marked sent in Letters to post
        if message.next_attempt_at is not None and message.next_attempt_at > now:
            return None
        message.attempts += 1
        message.next_attempt_at = now + timedelta(seconds=CLAIM_SECONDS)
        message.save(update_fields=["attempts", "next_attempt_at"])
        return _Claimed(
            message.channel, message.recipient, message.subject, message.body, message.attempts
        )


def _hand_over(claimed: _Claimed) -> None:
    if claimed.channel == Channel.EMAIL:
        EmailChannel().send(claimed.recipient, claimed.subject, claimed.body)
    else:
        sms_channel().send(claimed.recipient, claimed.body)


def _record_failure(message_id: int, attempt: int, error: DeliveryError) -> str:
    now = timezone.now()
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().get(pk=message_id)
        message.last_error = str(error)[:300]
        if not error.temporary or attempt >= MAX_ATTEMPTS:
            message.status, message.next_attempt_at = OutboxStatus.FAILED, None
            message.save(update_fields=["status", "last_error", "next_attempt_at"])
            if message.referral is not None:
                # Visible in the referral's audit trail: the patient or clinician was not told.
                record(
                    None,
                    "notification.failed",
                    message.referral,
                    detail={
                        "message": message.pk,
                        "event": message.event,
                        "channel": message.channel,
                        "attempts": attempt,
                        "error": message.last_error,
                    },
                )
            log.error(
                "outbox message %s failed after %s attempt(s): %s",
                message.pk,
                attempt,
                message.last_error,
            )
            return "failed"
        wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
        message.next_attempt_at = now + timedelta(seconds=wait)
        message.save(update_fields=["last_error", "next_attempt_at"])
    log.warning(
        "outbox message %s not delivered (attempt %s, next in %ss): %s",
        message_id,
        attempt,
        wait,
        str(error)[:300],
    )
    return "retry"


def deliver_outbox_message(message_id: int) -> str:
    """Hand one outbox message to its channel: 'sent', 'retry', 'failed' or 'skipped'.

    Safe to run twice or concurrently: only the run that claims a pending message sends it,
    and a sent or failed message is never sent again.
    """
    claimed = _claim(message_id)
    if claimed is None:
        return "skipped"
    try:
        _hand_over(claimed)
    except DeliveryError as exc:
        return _record_failure(message_id, claimed.attempt, exc)
    OutboxMessage.objects.filter(pk=message_id, status=OutboxStatus.PENDING).update(
        status=OutboxStatus.SENT, sent_at=timezone.now(), last_error="", next_attempt_at=None
    )
    return "sent"


def messages_due_for_retry(limit: int = 500) -> list[int]:
    """Pending messages whose backoff (or a dead worker's claim) has run out, oldest first."""
    now = timezone.now()
    due = Q(next_attempt_at__lte=now) | Q(
        next_attempt_at__isnull=True,
        created_at__lte=now - timedelta(seconds=FIRST_SEND_GRACE_SECONDS),
    )
    pending = OutboxMessage.objects.filter(due, status=OutboxStatus.PENDING).exclude(
        channel=Channel.LETTER
    )
    return list(pending.order_by("created_at", "id").values_list("pk", flat=True)[:limit])
