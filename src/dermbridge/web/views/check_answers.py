"""'Check your answers' before sending: everything the service will receive on one page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.imaging import services as imaging
from dermbridge.patients.models import ConsentScope
from dermbridge.referrals import permissions, services
from dermbridge.referrals.models import Referral, State
from dermbridge.web.views.common import acting_user
from dermbridge.web.views.referring import (
    _editable_referral,
    _lesions_with_images,
    keep_post_through_sign_in,
    refuse_as_403,
)


def _problem_links(referral: Referral, problems: list[str]) -> list[tuple[str, str]]:
    """Each reason the referral cannot be sent, with a link to where it is put right."""
    edit = reverse("referral-edit", args=[referral.pk])
    lesions = {lesion.number: lesion for lesion in referral.lesions.all()}
    rows = []
    for problem in problems:
        href = edit
        if problem.startswith("Add the question"):
            href = f"{edit}#id_clinical_question"
        elif "Changed in" in problem:
            name = problem.split("Changed in ")[1].split("?")[0].strip()
            href = f"{edit}#id_history-changed_{name}_0"
        elif "consent" in problem.lower():
            href = f"{edit}#consent_direct_care"
        elif problem.startswith("Lesion "):
            number = problem.split()[1].rstrip(":")
            lesion = lesions.get(int(number)) if number.isdigit() else None
            if lesion is not None:
                href = reverse("lesion-photos", args=[referral.pk, lesion.pk])
        rows.append((problem, href))
    return rows


@keep_post_through_sign_in
@refuse_as_403
def check_referral(request: HttpRequest, pk: int) -> HttpResponse:
    """'Check your answers' (the NHS pattern): everything the service will receive on one
    page, each part with a Change link, and the one button that sends it."""
    referral = _editable_referral(request, pk)
    user = acting_user(request)
    if referral.state != State.DRAFT:
        return redirect("referral-detail", pk=referral.pk)
    if request.method == "POST":
        try:
            services.submit_referral(referral, user=user)
        except NotPermitted:
            raise
        except DomainError:
            referral = Referral.objects.get(pk=referral.pk)
        else:
            messages.success(
                request, f"Referral {referral.reference} sent to {referral.service.name}."
            )
            return redirect("referral-detail", pk=referral.pk)
    can = permissions.can(user, referral)
    problems = services.submission_problems(referral)
    history = getattr(referral, "history", None)
    history_rows: list[tuple[str, str]] = []
    not_known: list[str] = []
    if history is not None:
        from dermbridge.web.forms import HISTORY_LABELS

        for name, label in HISTORY_LABELS.items():
            value = getattr(history, name)
            shown = getattr(history, f"get_{name}_display", lambda v=value: v)()
            if value in ("", "unknown"):
                not_known.append(label.rstrip("?"))
            else:
                history_rows.append((label, str(shown)))
    services.view_referral(referral, user=user, what="referral.check_view")
    return render(
        request,
        "web/referral_check.html",
        {
            "referral": referral,
            "lesion_rows": [
                (
                    lesion,
                    imaging.lesion_image_set(lesion, referral.service, referral.kind),
                    list(lesion.images.all()),
                )
                for lesion in _lesions_with_images(referral)
            ],
            "history_rows": history_rows,
            "not_known": not_known,
            "has_consent": referral.patient.consent_for(ConsentScope.DIRECT_CARE),
            "can": can,
            "problems": _problem_links(referral, problems),
            "error_list": [],
        },
    )
