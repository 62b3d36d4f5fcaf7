"""Interop work for the task worker. Tasks take ids; sending the same study twice is harmless
(the UIDs are derived from the referral, so the PACS replaces rather than duplicates)."""

from __future__ import annotations

from django_tasks import task

from dermbridge.accounts.models import User
from dermbridge.core.errors import DomainError
from dermbridge.interop import services
from dermbridge.referrals.models import Referral


@task(queue_name="interop")
def send_referral_to_pacs(referral_id: int, user_id: int | None = None) -> str:
    """Send a referral's images to the configured PACS; failures are audited, not retried blindly."""
    referral = Referral.objects.select_related("patient", "referrer", "referring_org").get(
        pk=referral_id
    )
    user = User.objects.filter(pk=user_id).first() if user_id else None
    try:
        result = services.send_to_pacs(referral, user)
    except DomainError as exc:
        return f"failed: {exc.message}"
    return f"sent {result.images} images"
