"""Per-request context (request id, client address) that audit events pick up."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_address: str | None = None


current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "dermbridge_request_context",
    default=RequestContext(),  # noqa: B039 - frozen dataclass, immutable
)
