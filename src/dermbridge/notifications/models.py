"""Messages to patients and clinicians, queued in an outbox and sent by the task worker."""

from __future__ import annotations

import hashlib

from django.db import models
from django.utils import timezone

from dermbridge.patients.models import ContactPreference
from dermbridge.referrals.models import MessageKind


class Channel(models.TextChoices):
    # The channels a patient may prefer, in the words the patient's record uses.
    EMAIL = ContactPreference.EMAIL.value, ContactPreference.EMAIL.label
    SMS = ContactPreference.SMS.value, ContactPreference.SMS.label
    # Printed and posted by the service's staff (Letters to post); never handed to the worker.
    LETTER = "letter", "Letter"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboxMessage(models.Model):
    """One message waiting to be sent, or sent, over one channel to one recipient."""

    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    event = models.CharField(max_length=40)
    # One message per (event occurrence, recipient): a task that runs twice sends once.
    dedupe_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(
        max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # Not before this time: the retry backoff after a temporary failure, and while a worker is
    # handing the message over, the end of its claim (so a second task does not send it too).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="outbox_status_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="outbox_retry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.event} ({self.status})"

    @property
    def event_label(self) -> str:
        """What the message is about, in words staff use."""
        return EVENT_LABELS.get(self.event, self.event.replace("_", " ").capitalize())


class NotificationEvent(models.TextChoices):
    """What a message is about (``OutboxMessage.event``), in words staff use."""

    SUBMITTED = "submitted", "Referral received"
    OUTCOME = "outcome", "Outcome"
    INFO_REQUESTED = "info_requested", "Info requested"
    CONVERTED = "converted", "Advice request converted to a referral"
    WITHDRAWN = "withdrawn", "Referral withdrawn"
    MESSAGE = MessageKind.MESSAGE.value, MessageKind.MESSAGE.label
    NEAR_BREACH = "near_breach", "Near breach"


EVENT_LABELS: dict[str, str] = dict(NotificationEvent.choices)


class PatientStatusLink(models.Model):
    """An unguessable, expiring link a patient uses to see where their referral stands."""

    referral = models.ForeignKey(
        "referrals.Referral", on_delete=models.CASCADE, related_name="status_links"
    )
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_opened_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Status link for {self.referral}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
