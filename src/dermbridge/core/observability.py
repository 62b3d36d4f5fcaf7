"""The first middleware: answers the probes and `/metrics`, times every other request by route,
and writes one JSON access-log line per request (route pattern, never the path or query).

Placed first in MIDDLEWARE so `/healthz` touches neither the database nor the session, and a
probe by pod address is not refused by the ALLOWED_HOSTS check."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from dermbridge.core import health, metrics

log = logging.getLogger("dermbridge.access")

ENDPOINTS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": health.healthz,
    "/readyz": health.readyz,
    "/metrics": metrics.metrics_view,
}


class ObservabilityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = ENDPOINTS.get(request.path_info.rstrip("/") or "/")
        if endpoint is not None and request.method in {"GET", "HEAD"}:
            return endpoint(request)
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        route = ("/" + match.route) if match is not None and match.route else "<unmatched>"
        metrics.observe_request(route, request.method or "", response.status_code, seconds)
        log.info(
            "%s %s %s %.1f ms",
            request.method,
            route,
            response.status_code,
            seconds * 1000,
            extra={
                "route": route,
                "method": request.method,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "request_id": response.get("X-Request-ID", ""),
            },
        )
        return response
