"""Session lifetime limits and the two-factor requirement for clinical roles."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

SESSION_STARTED_KEY = "dermbridge_session_started"
SESSION_TOUCHED_KEY = "dermbridge_session_touched"
# Paths a signed-in clinician can reach before completing two-factor set-up or verification.
TWO_FACTOR_EXEMPT_PREFIXES = (
    "/account/two-factor",
    "/logout",
    "/static/",
    "/assets/",
    "/status/",
)


class SessionLimitsMiddleware:
    """Ends a session 12 hours after sign-in whatever the activity, and keeps the idle limit
    (the cookie age, 30 minutes) rolling: the session is saved, with a new expiry, when its last
    touch is SESSION_TOUCH_SECONDS old (not on every request)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            started = request.session.get(SESSION_STARTED_KEY)
            now = time.time()
            if started is None:
                request.session[SESSION_STARTED_KEY] = now
            elif now - float(started) > settings.SESSION_ABSOLUTE_SECONDS:
                logout(request)
                return redirect(settings.LOGIN_URL)
            touched = request.session.get(SESSION_TOUCHED_KEY)
            if touched is None or now - float(touched) >= settings.SESSION_TOUCH_SECONDS:
                request.session[SESSION_TOUCHED_KEY] = now  # saved, expiry renewed
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """Clinical users must pass a TOTP check each session (unless the server runs in demo mode)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            settings.REQUIRE_TWO_FACTOR
            and user.is_authenticated
            and not request.path.startswith(TWO_FACTOR_EXEMPT_PREFIXES)
            and "HTTP_AUTHORIZATION" not in request.META  # API tokens are issued per system
            and getattr(user, "is_clinical", False)
            and not user.is_verified()  # type: ignore[union-attr,attr-defined]
        ):
            if request.path.startswith("/api/") or request.path.startswith("/fhir/"):
                return JsonResponse({"detail": "Two-factor verification required."}, status=403)
            return redirect("two-factor")
        return self.get_response(request)
