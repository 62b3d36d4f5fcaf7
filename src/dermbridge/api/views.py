"""The API's base view, pagination and the JSON 404 for an address that names nothing."""

from __future__ import annotations

from rest_framework.decorators import api_view, permission_classes, schema
from rest_framework.exceptions import NotFound
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dermbridge.api.schema import MAX_ID


class JsonView(APIView):
    """An API view whose requests carry JSON bodies (photo uploads use multipart instead)."""

    # The docstring is the OpenAPI description of every view without its own: keep it short.
    # Callers authenticate as settings.REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES say (a
    # token, or a session that passed two-factor: dermbridge.accounts.authentication) and must
    # be signed in (DEFAULT_PERMISSION_CLASSES).
    parser_classes = [JSONParser]


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
@schema(None)
def not_found(request: Request, unmatched: str = "") -> Response:
    """Any other /api/ address: a JSON 404 rather than the HTML page meant for people."""
    raise NotFound("There is no such API endpoint.")


def int_or_404(value: int) -> int:
    """An id from the path that can name a row, else 404."""
    if not 0 < value <= MAX_ID:
        raise NotFound("Not found.")
    return value
