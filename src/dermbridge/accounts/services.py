"""Two-factor authentication for clinicians: setting up an authenticator app and checking codes."""

from __future__ import annotations

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from dermbridge.accounts.models import User
from dermbridge.audit.services import record

SETUP_DEVICE_NAME = "Authenticator app"


def has_confirmed_device(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@transaction.atomic
def device_for_setup(user: User) -> TOTPDevice:
    """The not-yet-confirmed authenticator the user is scanning; one per user, kept until used."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=SETUP_DEVICE_NAME, confirmed=False)
        record(user, "two_factor.setup_started", device)
    return device


@transaction.atomic
def verify_second_factor(user: User, token: str) -> TOTPDevice | None:
    """Check a code against the user's authenticator; the first good code confirms a new one.

    Returns the device that accepted the code, or None. Every attempt is audited, because
    failed second-factor checks are a security signal (OWASP ASVS 2.2).
    """
    token = "".join(ch for ch in token if ch in "0123456789")
    confirmed = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    candidates = confirmed or list(TOTPDevice.objects.filter(user=user, confirmed=False))
    for device in candidates:
        if token and device.verify_token(token):
            if not device.confirmed:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                record(user, "two_factor.setup_confirmed", device)
            record(user, "two_factor.verified", device)
            return device
    record(
        user,
        "two_factor.failed",
        object_type="otp_totp.totpdevice",
        detail={"setup": not confirmed},
    )
    return None
