"""Clear answers while something the service depends on is down.

Every uncaught exception ends in Django's ``handler500``; this one looks at what was raised:

- the database unreachable (connection refused, dropped, a server restarting),
- the blob store unreachable or failing (``BlobStoreUnavailable``), or its disk full,

are *temporary*: the answer is 503 with ``Retry-After``, telling the user that what they just did
was not saved and to try again — a styled, phone-sized page for people, a JSON body for the API
and FHIR. Anything else is a 500, also styled (or JSON). The page is rendered without a request
context, so it needs no database, session or user: it works when they are what is down.
"""

from __future__ import annotations

import errno
import logging
import sys
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from dermbridge.imaging.blobstore import BlobStoreUnavailable

log = logging.getLogger("dermbridge.availability")

RETRY_AFTER_SECONDS = 30

MESSAGES = {
    "database": (
        "The DermBridge database is not answering at the moment.",
        "database_unavailable",
    ),
    "storage": (
        "The DermBridge photo store is not answering at the moment.",
        "storage_unavailable",
    ),
    "disk_full": (
        "The DermBridge photo store is full.",
        "storage_full",
    ),
}


def unavailable_kind(exc: BaseException | None) -> str | None:
    """'database', 'storage' or 'disk_full' for a temporary outage; None for anything else."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OperationalError | InterfaceError):
            return "database"
        if isinstance(exc, BlobStoreUnavailable):
            return "disk_full" if exc.disk_full else "storage"
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "disk_full"
        exc = exc.__cause__ or exc.__context__
    return None


def _wants_json(request: HttpRequest) -> bool:
    path = request.path
    return (
        path.startswith("/api/")
        or path == "/fhir"
        or path.startswith("/fhir/")
        or (
            "json" in request.headers.get("Accept", "")
            and "html" not in request.headers.get("Accept", "")
        )
    )


def unavailable_response(request: HttpRequest, kind: str) -> HttpResponse:
    what, code = MESSAGES[kind]
    saved = "Nothing you sent in this request was saved." if request.method != "GET" else ""
    if _wants_json(request):
        response: HttpResponse = JsonResponse(
            {
                "error": code,
                "detail": f"{what} {saved} Try again in a minute.".replace("  ", " "),
                "retry_after": RETRY_AFTER_SECONDS,
            },
            status=503,
        )
    else:
        html = render_to_string(
            "core/unavailable.html",
            {"what": what, "saved": saved, "retry_after": RETRY_AFTER_SECONDS, "status": 503},
        )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """handler500: a 503 for a temporary outage, else a styled (or JSON) 500."""
    exc = sys.exc_info()[1]
    kind = unavailable_kind(exc)
    if kind is not None:
        log.warning(
            "503 for %s %s: %s unavailable (%s)",
            request.method,
            request.path,
            kind,
            type(exc).__name__,
        )
        return unavailable_response(request, kind)
    if _wants_json(request):
        return JsonResponse(
            {"error": "server_error", "detail": "Something went wrong on our side. Try again."},
            status=500,
        )
    html = render_to_string(
        "core/unavailable.html",
        {
            "what": "Something went wrong on our side.",
            "saved": "What you just sent may not have been saved."
            if request.method != "GET"
            else "",
            "status": 500,
        },
    )
    return HttpResponse(html, status=500)
