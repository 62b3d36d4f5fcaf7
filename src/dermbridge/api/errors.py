"""Every API error as {"detail": sentence, "errors": {field: [messages]}}, refusals audited.

settings.REST_FRAMEWORK["EXCEPTION_HANDLER"] names `exception_handler`. Domain errors
(dermbridge.core.errors) answer with their own status code; a refusal (NotPermitted, 403) is
written to the audit trail with its reason. The only module of the API that writes to the
audit trail: the reads themselves are audited by the apps' read services.
"""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from dermbridge.audit.services import record_denial
from dermbridge.core.errors import DomainError, NotPermitted


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"lesions[1].size_mm": [...]} like the services use."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
        return out
    if isinstance(detail, list) and detail and all(isinstance(d, dict | list) for d in detail):
        out = {}
        for index, value in enumerate(detail, start=1):
            out.update(_flatten(value, f"{prefix}[{index}]"))
        return out
    messages = [str(m) for m in detail] if isinstance(detail, list) else [str(detail)]
    return {prefix or "request": messages} if messages else {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as {"detail": sentence, "errors": {field: [messages]}}."""
    if isinstance(exc, NotPermitted) and context.get("request") is not None:
        reference = str((context.get("kwargs") or {}).get("reference", ""))[:40]
        record_access_denied(
            context["request"], "referrals.referral", reference, reason=exc.message
        )
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field_errors:
            body["errors"] = exc.field_errors
        return Response(body, status=exc.status_code)
    if isinstance(exc, DRFValidationError):
        errors = _flatten(exc.detail)
        field, messages = next(iter(errors.items()), ("request", ["Invalid request."]))
        first = (
            messages[0] if field in ("request", "non_field_errors") else f"{field}: {messages[0]}"
        )
        return Response({"detail": first, "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)


def record_access_denied(
    request: Request, object_type: str, object_id: str | int, *, reason: str = ""
) -> None:
    """Every failed access-control check is logged (OWASP ASVS 7.2.2): who asked for what.

    Called by the API views that refuse an object by name (404 for anyone who may not see it),
    so the event names the object; any other refused request of a signed-in user gets a
    generic event from core.middleware.DenialAuditMiddleware.
    """
    record_denial(
        request.user,
        object_type,
        object_id,
        path=request.path,
        method=request.method,
        reason=reason,
    )
