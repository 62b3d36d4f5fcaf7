"""The photographer's visit page, on a tablet: check the patient's identity, record consent per
scope, photograph the lesions the referral names (and, with a reason, one it does not), then
record the outcome. Thin: parse, call the services (which decide and audit), render.

A step refused for what was typed (a box left unticked, an answer missing, an extra lesion
without a reason) re-renders the page with the errors named and what was typed kept (400); a
step done redirects back to the page (post, redirect, get).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dermbridge.accounts.models import Role
from dermbridge.clinics import forms, reads, services
from dermbridge.clinics.models import AppointmentStatus
from dermbridge.clinics.views import _appointment, _hub, _refuse, _user
from dermbridge.core.errors import DomainError, InvalidInput, NotPermitted
from dermbridge.referrals.models import Laterality
from dermbridge.referrals.terminology import body_site_choices


def _page(
    request: HttpRequest,
    hub_pk: int,
    appointment_pk: int,
    *,
    step: str = "",
    error: DomainError | None = None,
    posted: dict[str, Any] | None = None,
) -> HttpResponse:
    hub = _hub(request, hub_pk)
    found = reads.visit(_user(request), hub, appointment_pk)
    fields = [k.rsplit(".", 1)[-1] for k in (error.field_errors if error else {})]
    if found is None:
        raise _refuse(request, "clinics.appointment", appointment_pk)
    return render(
        request,
        "clinics/visit.html",
        {
            "hub": hub,
            "v": found,
            "a": found.appointment,
            "patient": found.appointment.referral.patient,
            "step": step,
            "error": error,
            "field_errors": fields,
            "error_list": [{"anchor": _anchor(step, fields), "message": error.message}]
            if error
            else [],
            "posted": posted or {},
            "body_sites": body_site_choices(),
            "lateralities": Laterality.choices,
            "booked": found.appointment.status == AppointmentStatus.BOOKED,
            # Only photographers take the visit's steps; an administrator sees them and may
            # record the outcome (a did-not-attend, say).
            "photographer": _user(request).has_role(Role.PHOTOGRAPHER, hub.pk),
        },
        status=error.status_code if error else 200,
    )


FIRST_FIELD = {
    "identity": "identity-name",
    "consent": "consent-care",
    "lesion": "lesion-body_site_code",
    "outcome": "outcome-attended",
}


def _anchor(step: str, fields: list[str]) -> str:
    """The field the error summary's link goes to: the first one named, else the step's first."""
    if fields and step in ("consent", "lesion"):
        return f"{step}-{fields[0]}"
    if step == "outcome" and "reason" in fields:
        return "outcome-reason"
    return FIRST_FIELD.get(step, "")


@login_required
@require_GET
def visit_page(request: HttpRequest, hub_pk: int, appointment_pk: int) -> HttpResponse:
    return _page(request, hub_pk, appointment_pk)


def _step(request: HttpRequest, hub_pk: int, appointment_pk: int, step: str) -> HttpResponse:
    hub = _hub(request, hub_pk)
    appointment = _appointment(request, hub, appointment_pk)
    user = _user(request)
    posted = request.POST.dict()
    try:
        if step == "identity":
            form: Any = forms.IdentityForm(request.POST)
            form.is_valid()
            services.confirm_identity(user, appointment, hub=hub, **form.cleaned_data)
            text = "Identity checked. Now ask for consent."
        elif step == "consent":
            form = forms.ConsentForm(request.POST)
            form.is_valid()
            done = services.record_consent(user, appointment, hub=hub, **form.cleaned_data)
            if done.consent_care:
                text = "Consent recorded. Photograph each lesion below."
            else:
                text = (
                    "Recorded: the patient declined photography for their care. No photographs "
                    "are taken; the referral has gone back to the GP with a message and the "
                    "patient has been told."
                )
        elif step == "outcome":
            form = forms.VisitForm(request.POST)
            if not form.is_valid():
                raise InvalidInput(
                    "Choose attended, did not attend or could not be photographed.",
                    field_errors={"outcome": ["Choose one."]},
                )
            done = services.record_visit(user, appointment, hub=hub, **form.cleaned_data)
            messages.success(request, f"Recorded: {done.get_status_display().lower()}.")
            return redirect("clinics-day", hub_pk=hub.pk)
        else:
            form = forms.ExtraLesionForm(request.POST)
            form.is_valid()
            data = dict(form.cleaned_data)
            extra = services.add_extra_lesion(
                user, appointment, hub=hub, reason=data.pop("reason", ""), **data
            )
            text = (
                f"Lesion {extra.lesion.number} added and flagged to the dermatologist. "
                "Photograph it as the others."
            )
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    except DomainError as error:
        return _page(request, hub_pk, appointment_pk, step=step, error=error, posted=posted)
    messages.success(request, text)
    return redirect("clinics-visit-page", hub_pk=hub.pk, appointment_pk=appointment.pk)


@login_required
@require_POST
def check_identity(request: HttpRequest, hub_pk: int, appointment_pk: int) -> HttpResponse:
    return _step(request, hub_pk, appointment_pk, "identity")


@login_required
@require_POST
def record_consent(request: HttpRequest, hub_pk: int, appointment_pk: int) -> HttpResponse:
    return _step(request, hub_pk, appointment_pk, "consent")


@login_required
@require_POST
def add_extra_lesion(request: HttpRequest, hub_pk: int, appointment_pk: int) -> HttpResponse:
    return _step(request, hub_pk, appointment_pk, "lesion")


@login_required
@require_POST
def record_outcome(request: HttpRequest, hub_pk: int, appointment_pk: int) -> HttpResponse:
    return _step(request, hub_pk, appointment_pk, "outcome")
