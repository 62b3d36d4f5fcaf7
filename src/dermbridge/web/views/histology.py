"""The histology loop's pages (issue #14 item 4): record a pathology report for one lesion
sent for biopsy or excision, and the service's list of lesions awaiting histology.

Only the referral's dermatology service (dermatologists, service administrators) records or
lists; anyone who may see the referral but not record gets 403; anyone else 404. Every view of
patient data is audited."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from dermbridge.accounts.models import Organisation, OrganisationKind, Role
from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.referrals import histology, permissions, services
from dermbridge.referrals.models import HistologyResult, LesionOutcome
from dermbridge.web.forms import apply_service_errors
from dermbridge.web.forms.histology import HistologyForm
from dermbridge.web.views.common import acting_user, error_items, visible_referral


@login_required
def record_histology(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    user = acting_user(request)
    referral = visible_referral(request, pk)
    if not permissions.may(user, "record_histology", referral):
        raise PermissionDenied("Only the dermatology service records histology.")
    request_row = (
        LesionOutcome.objects.select_related("lesion")
        .filter(lesion__referral=referral, lesion__number=number)
        .first()
    )
    if request_row is None or not request_row.biopsy_request_id:
        raise Http404("No biopsy or excision was requested for that lesion.")
    form = HistologyForm(request.POST or None)
    extra: list[str] = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                recorded = histology.record_result(
                    request_row,
                    user=user,
                    data=data,
                    report_system=histology.page_system(
                        referral.service_id, data.get("laboratory", "")
                    ),
                    report_identifier=data["report_identifier"],
                )
            except DomainError as exc:
                extra = apply_service_errors([("", form)], exc.field_errors) or [exc.message]
                status = exc.status_code
            else:
                messages.success(
                    request,
                    f"Histology recorded for lesion {number} ({request_row.biopsy_request_id})."
                    if recorded.created
                    else f"Report {recorded.result.report_identifier} was already recorded.",
                )
                return redirect("histology-awaiting")
        else:
            status = 400
    services.view_referral(referral, user=user, what="histology.form_view")
    form.mark_errors()
    return render(
        request,
        "web/histology_form.html",
        {
            "referral": referral,
            "request_row": request_row,
            "results": HistologyResult.objects.filter(lesion=request_row.lesion),
            "form": form,
            "error_list": error_items(form, extra=extra),
        },
        status=status,
    )


@login_required
def awaiting_histology(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    ids = user.organisation_ids(
        Role.DERMATOLOGIST, Role.SERVICE_ADMIN, kind=OrganisationKind.DERMATOLOGY_SERVICE
    )
    services = list(Organisation.objects.filter(pk__in=ids).order_by("name"))
    if not services:
        raise Http404("You do not work for a dermatology service.")
    # Someone working for several services chooses which list (?service=<id>); the first by name
    # otherwise. Another organisation's id is not theirs to choose: it is simply not offered.
    chosen = request.GET.get("service", "")
    service = next((s for s in services if str(s.pk) == chosen), services[0])
    try:
        rows = histology.awaiting_histology(user, service.pk)
    except NotPermitted as exc:  # pragma: no cover - ids come from the same memberships
        raise Http404(exc.message) from None
    return render(
        request,
        "web/histology_awaiting.html",
        {"service": service, "services": services, "rows": rows},
    )
