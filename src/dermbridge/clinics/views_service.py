"""The dermatology service's side of the hubs: the reviewing dermatologist sends a referral
already sent to them to an imaging hub for better photographs (issue #13 item 2), with the
reason. Mounted at /hubs/photography/ (dermbridge.urls); linked from the review page.

Who: the rule for asking the referrer for more information (`request_info`: the dermatologist
who has claimed the case, while in review), since this is that request, answered by a hub.
Someone who may not see the referral gets 404 (recorded); someone who may see it but not send
it gets 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from dermbridge.accounts.models import Organisation, OrganisationKind
from dermbridge.audit.services import record_denial
from dermbridge.clinics import forms, services
from dermbridge.clinics.views import _user
from dermbridge.core.errors import DomainError, InvalidInput, NotPermitted
from dermbridge.referrals import permissions
from dermbridge.referrals import services as referral_services
from dermbridge.referrals.models import Referral


def _referral(request: HttpRequest, pk: int) -> Referral:
    user = _user(request)
    found = (
        Referral.objects.select_related("patient", "service", "imaging_hub").filter(pk=pk).first()
    )
    if found is None or not found.is_visible_to(user):
        record_denial(user, "referrals.referral", pk, path=request.path, method=request.method)
        raise Http404("No such referral.")
    if not permissions.may(user, "request_info", found):
        record_denial(user, "referrals.referral", pk, path=request.path, method=request.method)
        raise PermissionDenied(
            "Only the dermatologist reviewing this referral can send it to a hub for photographs."
        )
    return found


@login_required
@require_http_methods(["GET", "POST"])
def send_for_photography(request: HttpRequest, referral_pk: int) -> HttpResponse:
    referral = _referral(request, referral_pk)
    user = _user(request)
    hubs = list(Organisation.objects.filter(kind=OrganisationKind.IMAGING_HUB).order_by("name"))
    error: DomainError | None = None
    posted: dict[str, str] = {}
    if request.method == "POST":
        posted = request.POST.dict()
        form = forms.SendToHubForm(request.POST)
        form.is_valid()
        hub = next((h for h in hubs if h.pk == form.cleaned_data.get("hub")), None)
        try:
            if hub is None:
                raise InvalidInput(
                    "Choose the imaging hub to photograph the patient.",
                    field_errors={"hub": ["Choose a hub."]},
                )
            services.send_for_photography(
                user, referral, hub=hub, reason=form.cleaned_data.get("reason") or ""
            )
        except NotPermitted as refused:
            raise PermissionDenied(refused.message) from None
        except DomainError as problem:
            error = problem
        else:
            messages.success(
                request,
                f"Sent to {hub.name} for photographs. The hub will book the patient; the "
                "referrer and the patient have been told.",
            )
            return redirect("referral-detail", pk=referral.pk)
    else:
        referral_services.view_referral(
            referral, user=user, what="clinics.send_for_photography.view"
        )
    fields = list(error.field_errors) if error else []
    return render(
        request,
        "clinics/send_for_photography.html",
        {
            "referral": referral,
            "hubs": hubs,
            "posted": posted,
            "error": error,
            "field_errors": fields,
            "error_list": [
                {"anchor": "hub" if "hub" in fields else "reason", "message": error.message}
            ]
            if error
            else [],
        },
        status=error.status_code if error else 200,
    )
