"""Serving lesion photographs to the people who may see the referral, and nobody else."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

from dermbridge.audit.services import record_denial
from dermbridge.core.errors import DomainError
from dermbridge.imaging import services
from dermbridge.imaging.reads import viewable_image


@login_required
def image_version(request: HttpRequest, key: str, version: str) -> HttpResponse:
    """One derivative of one photo, decrypted for an authorised viewer; every view audited.

    Addressed by the photo's unguessable ``media_key``, never its database id. 404 (not 403)
    when the user may not see the referral, so an address reveals nothing. Never cached:
    a shared computer must not keep patient photos after sign-out.
    """
    if version not in services.VIEWABLE:
        raise Http404("Unknown image version.")
    image = viewable_image(request.user, key)  # type: ignore[arg-type]
    if image is None:
        # Every failed access-control check is logged (OWASP ASVS 7.2.2).
        record_denial(
            request.user, "imaging.lesionimage", key, path=request.path, method=request.method
        )
        raise Http404("No such image.")
    try:
        data, media_type = services.read_derivative(image, version, user=request.user)  # type: ignore[arg-type]
    except DomainError as exc:
        raise Http404(exc.message) from None
    response = HttpResponse(data, content_type=media_type)
    extension = {"image/jpeg": "jpg", "image/png": "png"}.get(media_type, "bin")
    response["Content-Disposition"] = f'inline; filename="lesion-photo-{version}.{extension}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
