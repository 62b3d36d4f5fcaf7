"""The patient's status page: no login, the link itself is the key.

It shows where one referral stands in plain English and nothing else. A link that is unknown,
malformed or expired gets the site's ordinary 404, so a guess learns nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import get_resolver
from django.views.decorators.http import require_safe

from dermbridge.notifications import services


def _keep_private(response: HttpResponse) -> HttpResponse:
    # The URL is the secret: never cache the page, never send the URL on as a Referer,
    # never index it.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_safe
def patient_status(request: HttpRequest, token: str) -> HttpResponse:
    status = services.open_status_link(token)
    if status is None:
        # The configured 404 view takes (request, exception); django-stubs types it as one arg.
        not_found: Callable[..., HttpResponse] = get_resolver().resolve_error_handler(404)
        return _keep_private(not_found(request, Http404()))
    return _keep_private(render(request, "notifications/status.html", {"status": status}))
