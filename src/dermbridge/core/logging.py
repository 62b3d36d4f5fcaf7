"""JSON-lines logs with the request id, and no patient identifiers (docs/deploy.md).

`JsonFormatter` writes one JSON object a line: time, level, logger, message, the request id of
the request being served (the same as the X-Request-ID header and the audit events' request_id)
and selected structured fields. Code never logs patient data; as a second line of defence the
formatter masks anything shaped like an NHS number (10 digits, optionally 3-3-4 with spaces or
dashes) in the message and the traceback: a 404 for `/api/patients/9434765919/` is logged as
`Not Found: /api/patients/[nhs-number]/`."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from dermbridge.audit.context import current

NHS_NUMBER = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")
EXTRA_FIELDS = ("route", "method", "status", "duration_ms", "task", "worker_id")


def scrub(text: str) -> str:
    return NHS_NUMBER.sub("[nhs-number]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        request_id = current.get().request_id or getattr(record, "request_id", "")
        if request_id:
            payload["request_id"] = request_id
        for field in EXTRA_FIELDS:
            if hasattr(record, field):
                payload[field] = getattr(record, field)
        if record.exc_info:
            payload["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)
