"""The patient's status page: no login, the link itself is the key.

It shows where one referral stands in plain English and nothing else. A link that is unknown,
malformed or expired gets one and the same 404 page, phone-sized, with help (copy the whole link,
links expire, ask the GP practice): nothing on it depends on the link, so a guess learns nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from dermbridge.notifications import services


def _keep_private(response: HttpResponse) -> HttpResponse:
    # The URL is the secret: never cache the page, never send the URL on as a Referer to
    # another site, never index it. "same-origin", not "no-referrer": under "no-referrer" the
    # browser sends `Origin: null` with the page's own forms (confirm or rebook a photography
    # appointment, clinics/patient_views.py) and Django's CSRF check refuses them.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_safe
def patient_status(request: HttpRequest, token: str) -> HttpResponse:
    status = services.open_status_link(token)
    if status is None:
        return _keep_private(
            render(
                request,
                "notifications/link_not_found.html",
                {"link_days": settings.PATIENT_LINK_DAYS},
                status=404,
            )
        )
    return _keep_private(render(request, "notifications/status.html", {"status": status}))
