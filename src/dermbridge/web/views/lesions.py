"""Changing or removing one lesion of a draft referral."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.referrals import permissions, services
from dermbridge.referrals.models import Lesion, Referral
from dermbridge.web.forms import LesionForm
from dermbridge.web.views.common import acting_user, error_items
from dermbridge.web.views.referring import (
    _confirm,
    _editable_referral,
    keep_post_through_sign_in,
    refuse_as_403,
    service_error_lines,
    take_unsaved_post,
)


def _draft_lesion(request: HttpRequest, pk: int, lesion_pk: int) -> tuple[Referral, Lesion]:
    referral = _editable_referral(request, pk)
    return referral, get_object_or_404(Lesion, pk=lesion_pk, referral=referral)


@keep_post_through_sign_in
@refuse_as_403
def edit_lesion(request: HttpRequest, pk: int, lesion_pk: int) -> HttpResponse:
    """Correct a lesion's site, side, size or description while the referral is a draft."""
    referral, lesion = _draft_lesion(request, pk, lesion_pk)
    user = acting_user(request)
    try:
        permissions.check(user, "edit_lesion", referral)
    except NotPermitted:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("referral-detail", pk=referral.pk)
    initial = {
        "body_site_code": lesion.body_site_code,
        "laterality": lesion.laterality,
        "size_mm": lesion.size_mm,
        "description": lesion.description,
        "pigmented": lesion.pigmented,
    }
    data = request.POST if request.method == "POST" else take_unsaved_post(request)
    form = LesionForm(data, prefix="lesion", initial=initial)
    extra: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            services.update_lesion(lesion, user=user, **form.cleaned_data)
        except NotPermitted:
            raise
        except DomainError as exc:
            extra = service_error_lines([("lesions", form)], exc)
        else:
            messages.success(request, f"Lesion {lesion.number} saved.")
            return redirect("referral-edit", pk=referral.pk)
    form.mark_errors()
    services.view_referral(referral, user=user, what="referral.form_view")
    return render(
        request,
        "web/referral_form.html",
        {
            "referral": referral,
            "form": form,
            "error_list": error_items(form, extra=extra),
            "title": f"Change lesion {lesion.number}",
            "button": "Save lesion",
            "back": reverse("referral-edit", args=[referral.pk]),
        },
    )


@login_required
@refuse_as_403
def remove_lesion(request: HttpRequest, pk: int, lesion_pk: int) -> HttpResponse:
    """Remove a lesion and its photos from a draft, after a confirmation page."""
    referral, lesion = _draft_lesion(request, pk, lesion_pk)
    user = acting_user(request)
    try:
        permissions.check(user, "remove_lesion", referral)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            services.remove_lesion(lesion, user=user)
        else:
            photos = lesion.images.count()
            return _confirm(
                request,
                referral,
                title=f"Remove lesion {lesion.number}?",
                body=[
                    f"Lesion {lesion.number}: {lesion.body_site_label}"
                    f"{f' ({lesion.get_laterality_display().lower()})' if lesion.laterality else ''}"
                    f", with its {photos} photo(s), is removed from this draft.",
                    "The lesions after it are renumbered. This cannot be undone.",
                ],
                button="Yes, remove this lesion",
                back=reverse("referral-edit", args=[referral.pk]),
                back_label="No, keep it",
            )
    except NotPermitted:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("referral-detail", pk=referral.pk)
    messages.success(request, f"Lesion {lesion.number} removed.")
    return redirect("referral-edit", pk=referral.pk)
