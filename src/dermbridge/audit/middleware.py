"""Give every request an id and remember the client address for the audit trail."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from dermbridge.audit.context import RequestContext, current
from dermbridge.core.proxy import forwarded_request_id


def _client_address(request: HttpRequest) -> str | None:
    # The client's address: dermbridge.core.proxy took it from X-Forwarded-For when (and only
    # when) the connection came from a trusted proxy.
    raw = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The proxy's X-Request-ID (kept only from a trusted proxy), so its log and ours match.
        request_id = forwarded_request_id(request) or uuid.uuid4().hex
        token = current.set(RequestContext(request_id, _client_address(request)))
        try:
            response = self.get_response(request)
        finally:
            current.reset(token)
        response["X-Request-ID"] = request_id
        return response
