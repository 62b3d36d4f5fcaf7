"""The photos of a lesion on a draft: take or choose them, see each one's check, keep a photo
despite a warning, remove one. Split from referring.py (the draft pages), whose helpers for
finding an editable referral it uses."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.imaging import services as imaging
from dermbridge.imaging.models import LesionImage
from dermbridge.referrals import permissions, services
from dermbridge.referrals.models import Lesion, Referral, State
from dermbridge.web.forms import (
    ImageUploadForm,
)
from dermbridge.web.views.common import acting_user, error_items
from dermbridge.web.views.referring import _editable_referral, _lesions_with_images


def _visit_id(request: HttpRequest) -> int | None:
    """`?visit=<appointment id>`: the photographer came from a hub visit page."""
    raw = request.GET.get("visit", "")
    # ASCII digits only: "²".isdigit() is true but int("²") raises.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _back_to_photos(request: HttpRequest, referral_pk: int, lesion_pk: int) -> HttpResponse:
    """Back to the lesion's photo page, still on the way back to the visit if it came from one."""
    url = reverse("lesion-photos", kwargs={"pk": referral_pk, "lesion_pk": lesion_pk})
    visit = _visit_id(request)
    return redirect(f"{url}?visit={visit}" if visit else url)


def _render_photos(
    request: HttpRequest,
    referral: Referral,
    lesion: Lesion,
    form: ImageUploadForm,
    extra: list[str] | None = None,
) -> HttpResponse:
    lesion = next(x for x in _lesions_with_images(referral) if x.pk == lesion.pk)
    editable = referral.state in (State.DRAFT, State.MORE_INFO_REQUESTED)
    image_set = imaging.lesion_image_set(lesion, referral.service, referral.kind)
    missing: list[str] = image_set["missing"]  # type: ignore[assignment]
    if not form.is_bound and missing:
        form.initial["image_type"] = missing[0]  # guide the photographer to the next photo
    form.mark_errors()
    services.view_referral(referral, user=acting_user(request), what="referral.photos_view")
    from dermbridge.imaging import quality_review

    required: list[str] = image_set["required"]  # type: ignore[assignment]
    photos, checklist = quality_review.photo_page(lesion, required)
    next_lesion = None
    if referral.state == State.DRAFT:
        for other in _lesions_with_images(referral):
            if (
                other.pk != lesion.pk
                and imaging.lesion_image_set(other, referral.service, referral.kind)["missing"]
            ):
                next_lesion = other
                break
    from dermbridge.clinics import reads as clinics_reads

    visit_id = _visit_id(request)
    visit = (
        clinics_reads.visit_of_referral(acting_user(request), visit_id, referral.pk)
        if visit_id
        else None
    )
    return render(
        request,
        "web/lesion_photos.html",
        {
            "visit": visit,
            "visit_query": f"?visit={visit.pk}" if visit else "",
            "referral": referral,
            "lesion": lesion,
            "images": list(lesion.images.all()),
            "photos": photos,
            "checklist": checklist,
            "must_act": sum(1 for _, r in photos if r.needs_action),
            "image_set": image_set,
            "form": form,
            "editable": editable,
            "next_lesion": next_lesion,
            "can_submit": referral.state == State.DRAFT
            and permissions.may_role(acting_user(request), "submit", referral),
            "error_list": error_items(form, extra=extra or []),
        },
    )


@login_required
def lesion_photos(request: HttpRequest, pk: int, lesion_pk: int) -> HttpResponse:
    """Upload photos of one lesion and see each one's checks and the set still needed."""
    referral = _editable_referral(request, pk)
    lesion = get_object_or_404(Lesion, pk=lesion_pk, referral=referral)
    if request.method != "POST":
        return _render_photos(request, referral, lesion, ImageUploadForm())
    form = ImageUploadForm(request.POST, request.FILES)
    extra: list[str] = []
    if form.is_valid():
        try:
            # The one way in for images: a hospital camera's DICOM object is accepted beside
            # photos (its content decides; imaging/intake.py).
            uploaded = imaging.accept_photos(
                lesion,
                user=acting_user(request),
                files=form.cleaned_data["photos"],
                image_type=form.cleaned_data["image_type"],
                dermoscopy_mode=form.cleaned_data["dermoscopy_mode"],
            )
        except DomainError as exc:
            form.add_error("photos", exc.message)
        else:
            count = len(uploaded)
            messages.success(
                request,
                f"{count} photo{'s' if count > 1 else ''} uploaded. Each is being checked; "
                "refresh this page to see the result.",
            )
            return _back_to_photos(request, referral.pk, lesion.pk)
    return _render_photos(request, referral, lesion, form, extra)


@login_required
@require_POST
def delete_photo(request: HttpRequest, pk: int, image_pk: int) -> HttpResponse:
    referral = _editable_referral(request, pk)
    image = get_object_or_404(LesionImage, pk=image_pk, lesion__referral=referral)
    try:
        imaging.delete_image(image, user=acting_user(request))
    except NotPermitted as exc:
        raise PermissionDenied(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Photo removed.")
    return _back_to_photos(request, referral.pk, image.lesion_id)


@login_required
@require_POST
def keep_photo(request: HttpRequest, pk: int, image_pk: int) -> HttpResponse:
    """'Keep this photo': the photographer has read its quality warnings and sends it anyway."""
    from dermbridge.imaging import quality_review

    referral = _editable_referral(request, pk)
    image = get_object_or_404(LesionImage, pk=image_pk, lesion__referral=referral)
    try:
        quality_review.keep_photo(image, user=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{image.get_image_type_display()} photo kept.")
    return _back_to_photos(request, referral.pk, image.lesion_id)
