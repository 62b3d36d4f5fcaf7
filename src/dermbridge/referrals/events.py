"""Announcing a referral event (submitted, outcome, message...) to whoever must be told.

The service modules call notify_referral_event; the notifications app receives the signal.
"""

from __future__ import annotations

from dermbridge.accounts.models import User
from dermbridge.referrals import signals
from dermbridge.referrals.models import Referral


def notify_referral_event(
    referral: Referral, event: str, *, exclude_user: User | None = None
) -> None:
    """Tell whoever must be told of this event (the notifications app receives it, inside this
    transaction: see referrals/signals.py)."""
    signals.referral_event.send(
        sender=Referral, referral=referral, event=event, exclude_user=exclude_user
    )
