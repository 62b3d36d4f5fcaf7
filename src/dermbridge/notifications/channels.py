"""Ways to reach people. Email goes over real SMTP; SMS goes through a gateway behind the
SmsChannel interface, with a local implementation that appends to a file."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone


class DeliveryError(Exception):
    """A temporary failure to hand a message over; the outbox retries."""


class EmailChannel:
    def send(self, recipient: str, subject: str, body: str) -> None:
        try:
            EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient]).send()
        except OSError as exc:
            raise DeliveryError(f"SMTP delivery failed: {exc.__class__.__name__}") from exc


class SmsChannel(Protocol):
    def send(self, recipient: str, body: str) -> None: ...


class FileSmsChannel:
    """The local SMS gateway: one JSON line per text message, for development and tests."""

    _lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, recipient: str, body: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"to": recipient, "body": body, "at": timezone.now().isoformat()})
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def sms_channel() -> SmsChannel:
    return FileSmsChannel()
