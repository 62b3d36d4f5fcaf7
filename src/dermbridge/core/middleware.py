"""The one place where retried and double-sent writes are made idempotent (see core.idempotency).

- POST and PATCH under /api/ and /fhir carrying an `Idempotency-Key` header;
- any web POST of a signed-in user carrying the one-time `_once` form field.

Placed after authentication and messages in settings.MIDDLEWARE. The API's callers are known
the way the API views know them: a DRF token first (ExpiringTokenAuthentication), else the
session user that passed two-factor (as VerifiedSessionAuthentication requires).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework.exceptions import AuthenticationFailed

from dermbridge.accounts.authentication import ExpiringTokenAuthentication
from dermbridge.audit.context import current
from dermbridge.audit.models import AuditEvent
from dermbridge.audit.services import record
from dermbridge.core import idempotency
from dermbridge.core.models import IdempotencyKey, KeyKind, KeyState

API_METHODS = {"POST", "PATCH"}
FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
FHIR_JSON = "application/fhir+json"


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/fhir" or path.startswith("/fhir/")


def api_user(request: HttpRequest) -> Any:
    """The user the API views will see, or None (they will answer 401 themselves)."""
    try:
        result = ExpiringTokenAuthentication().authenticate(request)  # type: ignore[arg-type]
    except AuthenticationFailed:
        return None
    if result is not None:
        return result[0]
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if (
        settings.REQUIRE_TWO_FACTOR
        and getattr(user, "is_clinical", False)
        and not getattr(user, "is_verified", lambda: False)()
    ):
        return None
    return user


def read_body(request: HttpRequest) -> bytes | None:
    """The raw body, kept on the request so the view parses it as usual; None when larger than
    any endpoint accepts (the view refuses it with 413 without our help)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length > 3 * settings.MAX_UPLOAD_BYTES + 1024 * 1024:
        return None
    if hasattr(request, "_body"):
        return request._body  # type: ignore[no-any-return]
    # request.body would refuse a multipart body over DATA_UPLOAD_MAX_MEMORY_SIZE (photos are
    # kept in memory by the upload handler anyway); read it once and leave it where Django's
    # and DRF's parsers look for an already read body.
    data = request.read()
    request._body = data  # type: ignore[attr-defined]
    request._stream = io.BytesIO(data)  # type: ignore[attr-defined]
    return data


def api_error(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """The API's error shape ({"detail", "errors"}), or an OperationOutcome under /fhir."""
    if request.path.startswith("/fhir"):
        code = {400: "invalid", 409: "conflict", 422: "processing"}.get(status, "processing")
        body: dict[str, Any] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": message}],
        }
        content_type = FHIR_JSON
    else:
        body = {"detail": message, "errors": {idempotency.HEADER: [message]}}
        content_type = "application/json"
    response = HttpResponse(json.dumps(body), status=status, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in API_METHODS and is_api_path(request.path):
            if idempotency.META_HEADER in request.META:
                return self.api_request(request)
        elif request.method == "POST" and request.user.is_authenticated:
            return self.form_request(request)
        return self.get_response(request)

    def run(self, request: HttpRequest, row: IdempotencyKey) -> HttpResponse:
        """The view and its stored answer in one transaction, under the key's row lock: a
        process killed mid-request leaves neither, so the retry runs it afresh. A 5xx rolls the
        request's work back; any answer that is not kept (5xx, 409, 429, a form page shown again)
        releases the key so that the client may try again."""
        kept = False
        try:
            with transaction.atomic():
                current = IdempotencyKey.objects.select_for_update().filter(pk=row.pk).first()
                if current is not None and current.state == KeyState.DONE:
                    # Another runner finished it while this one waited for the lock.
                    kept = True
                    return idempotency.replay(current)
                response = self.get_response(request)
                kept = current is not None and idempotency.store(current, response)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
        finally:
            if not kept:
                with contextlib.suppress(DatabaseError):
                    idempotency.release(row)
        return response

    def api_request(self, request: HttpRequest) -> HttpResponse:
        try:
            key = idempotency.parse_key(request.META[idempotency.META_HEADER])
        except idempotency.KeyProblem as exc:
            return api_error(request, 400, str(exc))
        user = api_user(request)
        body = read_body(request)
        if user is None or body is None:
            return self.get_response(request)
        method = request.method or "POST"
        path = request.get_full_path()
        claimed = idempotency.claim(
            user,
            key,
            method=method,
            path=path,
            fingerprint=idempotency.fingerprint(
                method, path, request.META.get("CONTENT_TYPE", ""), body
            ),
        )
        row = claimed.row
        if row is not None and claimed.outcome == "claimed":
            return self.run(request, row)
        if row is not None and claimed.outcome == "replay":
            record(
                user,
                "request.replayed",
                object_type="core.idempotencykey",
                object_id=row.pk,
                detail={"method": method, "path": path[:200], "status": row.status_code},
            )
            return idempotency.replay(row)
        if row is not None and claimed.outcome == "mismatch":
            return api_error(
                request,
                422,
                f"{idempotency.HEADER} {key!r} was already used for a different request "
                f"({row.method} {row.path}); use a new key for a new request.",
            )
        response = api_error(
            request,
            409,
            f"A request with {idempotency.HEADER} {key!r} is still being processed; "
            "retry after it finishes to get its answer.",
        )
        response["Retry-After"] = "1"
        return response

    def form_request(self, request: HttpRequest) -> HttpResponse:
        try:
            token = request.POST.get(idempotency.FORM_FIELD, "")
        except (MultiPartParserError, SuspiciousOperation, BadRequest):
            return self.get_response(request)  # the view answers the broken body itself
        if not FORM_TOKEN.fullmatch(token):
            return self.get_response(request)
        path = request.get_full_path()
        deadline = time.monotonic() + settings.IDEMPOTENCY_FORM_WAIT_SECONDS
        while True:
            claimed = idempotency.claim(
                request.user,
                f"form:{token}",
                method="POST",
                path=path,
                fingerprint=idempotency.fingerprint("POST", path, "", b""),
                kind=KeyKind.FORM,
            )
            row = claimed.row
            if row is not None and claimed.outcome == "claimed":
                return self.run(request, row)
            if row is not None and claimed.outcome == "replay":
                # A double click or a resent page: go where the first POST went.
                messages.info(request, "You sent this form twice; it was acted on once.")
                location = (row.response_headers or {}).get("Location") or path
                return HttpResponseRedirect(location)
            if claimed.outcome == "in_flight" and time.monotonic() < deadline:
                time.sleep(0.1)  # a double click: the first POST is nearly done
                continue
            referer = request.META.get("HTTP_REFERER", "")
            back = (
                referer if url_has_allowed_host_and_scheme(referer, {request.get_host()}) else "/"
            )
            return render(
                request,
                "core/form_conflict.html",
                {"in_flight": claimed.outcome == "in_flight", "back": back},
                status=409,
            )


# URL names whose 404 says nothing about an object: the API's catch-all, the icon redirect.
NOT_OBJECT_URLS = {"not_found", "assets"}


class DenialAuditMiddleware:
    """Every refused request of a signed-in user is in the audit trail (OWASP ASVS 7.2.2).

    Most views record `access.denied` themselves with the object they refused; this catches
    the rest in one place: a 403 or 404 from a known address (an object, a service's dashboard,
    an export) for which the view recorded nothing gets one generic `access.denied` event naming
    the address and its parameters. Anonymous requests are refused before any object is looked
    up (401, or the sign-in page) and are not recorded.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = timezone.now()
        response = self.get_response(request)
        if response.status_code in (403, 404):
            self.audit(request, response, started)
        return response

    def audit(self, request: HttpRequest, response: HttpResponse, started: Any) -> None:
        # DRF puts the token user on the Django request once a view has authenticated it.
        user = getattr(request, "user", None)
        match = getattr(request, "resolver_match", None)
        if user is None or not user.is_authenticated or match is None:
            return
        name = match.url_name or getattr(match.func, "__name__", "")
        if name in NOT_OBJECT_URLS or "unmatched" in match.kwargs:
            return
        request_id = current.get().request_id
        # By actor and time (an index), then this request's id: did the view record it?
        already = AuditEvent.objects.filter(
            actor_id=user.pk, at__gte=started, action="access.denied", request_id=request_id
        )
        if already.exists():
            return
        detail: dict[str, Any] = {
            "path": request.path[:200],
            "method": request.method,
            "status": response.status_code,
            "url": match.view_name,
        }
        if request.GET:
            detail["query"] = {k: v[:40] for k, v in list(request.GET.items())[:5]}
        values = [str(v)[:40] for v in match.kwargs.values()]
        record(
            user,
            "access.denied",
            object_type=f"url:{match.view_name}"[:64],
            object_id=",".join(values)[:64],
            detail=detail,
        )
