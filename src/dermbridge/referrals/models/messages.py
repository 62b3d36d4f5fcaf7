"""What is said and done on a referral: messages between practice and service, and each step
through the workflow."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dermbridge.referrals.models.referral import Referral, State


class MessageKind(models.TextChoices):
    MESSAGE = "message", "Message"
    INFO_REQUEST = "info_request", "Request for more information"
    INFO_REPLY = "info_reply", "Reply with more information"


class Message(models.Model):
    """A note between the referrer's practice and the dermatology service about one referral."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=MessageKind.choices, default=MessageKind.MESSAGE)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.referral}"


class StateChange(models.Model):
    """One step through the referral workflow: who moved it, from where to where, when."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="state_changes")
    action = models.CharField(max_length=32)
    from_state = models.CharField(max_length=24, choices=State.choices)
    to_state = models.CharField(max_length=24, choices=State.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.referral}: {self.from_state} → {self.to_state}"
