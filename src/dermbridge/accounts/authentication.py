"""How REST API callers prove who they are: a token, or a browser session that passed two-factor."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request


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


API_AUTHENTICATION = [TokenAuthentication, VerifiedSessionAuthentication]
