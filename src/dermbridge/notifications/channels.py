"""Ways to reach people. Email goes over real SMTP; SMS goes through a gateway behind the
SmsChannel interface, with a local implementation that appends to a file.

A channel either hands the message over or raises a DeliveryError. `temporary` says whether
trying again later can help (server down, 4xx reply) or not (5xx: the address is refused), so
the outbox retries only what a retry can fix.
"""

from __future__ import annotations

import json
import smtplib
import threading
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone


class DeliveryError(Exception):
    """A failure to hand a message over. Its text must not contain the message or address."""

    def __init__(self, reason: str, *, temporary: bool = True) -> None:
        super().__init__(reason)
        self.temporary = temporary


def _smtp_code(exc: smtplib.SMTPException) -> int | None:
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        return min(code for code, _ in exc.recipients.values())
    return None


class EmailChannel:
    """Email through the SMTP relay configured by DERMBRIDGE_SMTP_* (Django's mail backend)."""

    def send(self, recipient: str, subject: str, body: str) -> None:
        try:
            sent = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient]).send()
        except smtplib.SMTPException as exc:
            code = _smtp_code(exc)
            permanent = code is not None and code >= 500
            reason = f"SMTP {code} ({exc.__class__.__name__})" if code else exc.__class__.__name__
            raise DeliveryError(f"SMTP delivery failed: {reason}", temporary=not permanent) from exc
        except OSError as exc:
            # Connection refused, timeout, DNS: the relay may be back later.
            raise DeliveryError(f"SMTP delivery failed: {exc.__class__.__name__}") from exc
        if sent != 1:
            raise DeliveryError("SMTP delivery failed: the relay accepted no message")


class SmsChannel(Protocol):
    """A text-message gateway. Raise DeliveryError on failure (temporary unless told not)."""

    def send(self, recipient: str, body: str) -> None: ...


class FileSmsChannel:
    """The local SMS gateway: one JSON line per text message, for development and tests."""

    _lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, recipient: str, body: str) -> None:
        line = json.dumps({"to": recipient, "body": body, "at": timezone.now().isoformat()})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError as exc:
            raise DeliveryError(f"SMS file channel failed: {exc.__class__.__name__}") from exc


def sms_channel() -> SmsChannel:
    """The configured SMS gateway (DERMBRIDGE_SMS_CHANNEL; only 'file' ships today)."""
    return FileSmsChannel()
