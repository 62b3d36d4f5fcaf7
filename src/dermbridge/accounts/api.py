"""REST API sign-in, and who an API request acts as and for.

- POST /api/auth/token/: exchange a username and password (and a two-factor code) for a token;
- `acting_user`, `own_organisation`, `organisation_from`: the signed-in user, and the
  organisations a request body names, for every app's API views.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dermbridge.accounts.models import Organisation, Role, User
from dermbridge.accounts.services import has_confirmed_device, verify_second_factor
from dermbridge.accounts.tokens import issue_api_token
from dermbridge.api.schema import MAX_ID, error_responses
from dermbridge.core.errors import InvalidReferral


def acting_user(request: Request) -> User:
    """The signed-in user (every API view but sign-in requires authentication)."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


def organisation_from(value: str, field: str) -> Organisation:
    """An organisation named by ODS code (or database id) in a request body."""
    value = value.strip()
    org = Organisation.objects.filter(ods_code__iexact=value).first()
    if org is None and value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
        org = Organisation.objects.filter(pk=int(value)).first()
    if org is None:
        message = f"No organisation with ODS code {value!r}."
        raise InvalidReferral(message, field_errors={field: [message]})
    return org


def own_organisation(user: User, value: str | None, field: str) -> Organisation:
    """The practice or hub the user acts for: named, or their only one."""
    if value:
        return organisation_from(value, field)
    ids = user.organisation_ids(Role.REFERRER, Role.PHOTOGRAPHER)
    if len(ids) != 1:
        message = "Say which practice or hub you act for (its ODS code)."
        raise InvalidReferral(message, field_errors={field: [message]})
    return Organisation.objects.get(pk=next(iter(ids)))


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, style={"input_type": "password"})
    otp_token = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        help_text="The 6-digit code from the authenticator app; needed by clinical users "
        "when two-factor authentication is required.",
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as the header 'Authorization: Token <token>'.")
    username = serializers.CharField()


class ObtainTokenView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="auth_token_create",
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, **error_responses(400, 403, 415, 429)},
        summary="Sign in and get your API token",
        auth=[],
    )
    def post(self, request: Request) -> Response:
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        # The plain HttpRequest: django-axes counts failures and flags lock-outs on it.
        http_request = request._request
        user = authenticate(
            request=http_request, username=data["username"], password=data["password"]
        )
        if user is None:
            if getattr(http_request, "axes_locked_out", False):
                # Answer in JSON here instead of letting axes' middleware send its HTML page.
                http_request.axes_locked_out = False  # type: ignore[attr-defined]
                minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
                return Response(
                    {
                        "detail": "Too many failed sign-in attempts: this account is locked for "
                        f"{minutes} minutes. Try again later."
                    },
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                )
            return Response(
                {"detail": "Wrong username or password."}, status=status.HTTP_400_BAD_REQUEST
            )
        assert isinstance(user, User)
        if settings.REQUIRE_TWO_FACTOR and user.is_clinical:
            # A token skips the per-session two-factor check, so it is only issued after one.
            if not has_confirmed_device(user):
                return Response(
                    {
                        "detail": "Set up two-factor authentication in DermBridge before asking "
                        "for an API token."
                    },
                    status=status.HTTP_403_FORBIDDEN,
                )
            if verify_second_factor(user, data.get("otp_token", "")) is None:
                return Response(
                    {"detail": "Enter the current code from your authenticator app (otp_token)."},
                    status=status.HTTP_403_FORBIDDEN,
                )
        token = issue_api_token(user, issued_by=user)
        return Response({"token": token.key, "username": user.username})
