"""Telling the patient and the clinicians what happened to a referral: the notifications app
receives the referral app's events (referrals/signals.py, ADR 0012) inside the transaction that
made them, so the outbox rows commit with the change. Connected in NotificationsConfig.ready."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from dermbridge.notifications import services
from dermbridge.referrals import signals


@receiver(signals.referral_event, dispatch_uid="notifications.referral_event")
def tell_whoever_must_be_told(
    sender: Any, *, referral: Any, event: str, exclude_user: Any = None, **kwargs: Any
) -> None:
    services.notify_referral_event(referral, event, exclude_user=exclude_user)
