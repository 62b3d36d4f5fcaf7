"""How REST API callers prove who they are: a token, or a browser session that passed two-factor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request


def token_expired(token: Token) -> bool:
    """True once a token is older than DERMBRIDGE_API_TOKEN_DAYS (default 90)."""
    return timezone.now() - token.created > timedelta(days=settings.API_TOKEN_DAYS)


class ExpiringTokenAuthentication(TokenAuthentication):
    """'Authorization: Token <key>', refused once the token is older than its lifetime.

    A leaked integration token stops working by itself; the integration asks for a new one
    (POST /api/auth/token/ or `dermbridge issue-token USER --rotate`).
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            raise AuthenticationFailed(
                "API token expired: ask for a new one (POST /api/auth/token/)."
            )
        return user, token


class VerifiedSessionAuthentication(SessionAuthentication):
    """A session cookie counts only once a clinician has passed two-factor in that session.

    The two-factor middleware lets through any request carrying an Authorization header (API
    tokens are issued per system), so an unverified session plus a made-up header must be
    refused here rather than there.
    """

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        if (
            settings.REQUIRE_TWO_FACTOR
            and getattr(user, "is_clinical", False)
            and not getattr(user, "is_verified", lambda: False)()
        ):
            raise AuthenticationFailed("Two-factor verification required.")
        return result


class VerifiedSessionScheme(SessionScheme):
    """Documents the session cookie in the OpenAPI schema (as 'cookieAuth')."""

    target_class = "dermbridge.accounts.authentication.VerifiedSessionAuthentication"


API_AUTHENTICATION = [ExpiringTokenAuthentication, VerifiedSessionAuthentication]
