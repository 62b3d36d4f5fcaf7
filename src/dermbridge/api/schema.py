"""What the OpenAPI schema says about every endpoint: the error answer and path ids."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

# SQLite and PostgreSQL bigint: a larger id in a URL or body cannot name a row.
MAX_ID = 2**63 - 1


class ErrorSerializer(serializers.Serializer):
    """Every error answer: a sentence for the clinician, and per-field messages when known."""

    detail = serializers.CharField()
    # A declared field, not Serializer.errors: the metaclass moves it into _declared_fields.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per field; nested fields are named like lesions[1].size_mm.",
    )


ERROR_WORDS = {
    400: "The request is incomplete or wrong; nothing was changed.",
    401: "No valid token or session.",
    403: "You may see this but not do this (or two-factor verification is needed).",
    404: "Not found, or not visible to you.",
    409: "Not possible in the referral's current state.",
    415: "The body must be JSON (multipart/form-data for photo uploads).",
    429: "Too many failed sign-in attempts: the account is locked for a while.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an endpoint (401 applies to all of them)."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_WORDS[code])
        for code in (401, *codes)
    }


def id_parameter(name: str, description: str) -> OpenApiParameter:
    """An integer id in the path, documented with the range a row id can have."""
    return OpenApiParameter(
        name,
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        OpenApiParameter.PATH,
        description=description,
    )
