"""The service dashboard page and its per-referral CSV export, for the service's own staff."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dermbridge.accounts.models import Organisation, OrganisationKind, Role
from dermbridge.core.errors import NotPermitted
from dermbridge.core.reconcile import last_run
from dermbridge.reporting import charts, reads, services
from dermbridge.reporting.models import MissedCancer
from dermbridge.reporting.services import MAX_PERIOD_DAYS, Period
from dermbridge.triage.monitoring import drift
from dermbridge.web.forms import NhsForm
from dermbridge.web.views.common import acting_user, error_items

DASHBOARD_ROLES = (Role.SERVICE_ADMIN, Role.DERMATOLOGIST)


class PeriodForm(NhsForm):
    """The reporting period: referrals submitted from `start` to `end` (default: 12 weeks)."""

    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        default = Period.last_weeks()
        start: date = data.get("start") or default.start
        end: date = data.get("end") or default.end
        if end < start:
            self.add_error("end", "The end date must be the same as or after the start date.")
        elif end - start > timedelta(days=MAX_PERIOD_DAYS):
            self.add_error("start", "Choose a period of 2 years or less.")
        elif start > timezone.localdate():
            self.add_error("start", "The start date cannot be in the future.")
        data["period"] = Period(start, end)
        return data


def _service_for(request: HttpRequest) -> tuple[Organisation, list[Organisation]]:
    """The dashboard's service: one the user reviews for or runs. 403 for anyone else; 404 for
    a service that is not theirs (never reveal what it holds)."""
    user = acting_user(request)
    # A dermatology service's: an imaging hub's administrator (the same role) has the hub's own
    # dashboard under /hubs/ and nothing here.
    ids = user.organisation_ids(*DASHBOARD_ROLES, kind=OrganisationKind.DERMATOLOGY_SERVICE)
    mine = list(Organisation.objects.filter(pk__in=ids))
    if not mine:
        raise PermissionDenied("The dashboard is for dermatology service staff.")
    try:
        chosen = int(request.GET.get("service", mine[0].pk))
    except ValueError:
        raise Http404("No such service.") from None
    service = next((s for s in mine if s.pk == chosen), None)
    if service is None:
        raise Http404("You do not work for that service.")
    return service, mine


def _period(request: HttpRequest) -> tuple[PeriodForm, Period]:
    form = PeriodForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["period"]
    form.mark_errors()
    return form, Period.last_weeks()


def _query_string(service: Organisation, period: Period) -> str:
    return f"service={service.pk}&start={period.start.isoformat()}&end={period.end.isoformat()}"


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Referrals per week, response times, outcomes, FDS, AI agreement and open cases."""
    service, mine = _service_for(request)
    form, period = _period(request)
    board = reads.dashboard(acting_user(request), service, period)
    return render(
        request,
        "reporting/dashboard.html",
        {
            "board": board,
            "service": service,
            "services": mine,
            "form": form,
            "error_list": error_items(form),
            "weekly_chart": charts.weekly_referrals_chart(board.weeks),
            "fds_chart": charts.fds_bullet_chart(board.fds),
            # The triage AI's inputs and outputs per referring organisation and week.
            "ai_drift": drift(service.pk, *period.bounds),
            "export_query": _query_string(service, period),
            # The last `dermbridge reconcile` (database against blob store): counts only.
            "integrity": last_run(),
            "missed_unreviewed": MissedCancer.objects.filter(
                service=service, reviewed_at__isnull=True
            ).count(),
        },
    )


@login_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    """The per-referral rows behind the dashboard as CSV; no patient names or NHS numbers."""
    service, _ = _service_for(request)
    form, period = _period(request)
    if form.is_bound and form.errors:
        return HttpResponse(
            "Choose a valid period: " + " ".join(i.message for i in error_items(form)),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    rows = reads.export_rows(acting_user(request), service, period)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(services.EXPORT_COLUMNS)
    writer.writerows(row.cells() for row in rows)
    filename = f"dermbridge-{service.ods_code}-{period.start}-{period.end}.csv"
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def concordance(request: HttpRequest) -> HttpResponse:
    """Histology against the teledermatology diagnosis and the AI, side by side; concordance
    per dermatologist and AI version; the missed-cancer events (issue #14 item 5)."""
    service, mine = _service_for(request)
    form, period = _period(request)
    user = acting_user(request)
    report, events = reads.concordance(user, service, period)
    return render(
        request,
        "reporting/concordance.html",
        {
            "report": report,
            "events": events,
            "service": service,
            "services": mine,
            "form": form,
            "error_list": error_items(form),
            "is_admin": service.pk in user.organisation_ids(Role.SERVICE_ADMIN),
        },
    )


@login_required
@require_POST
def missed_cancer_reviewed(request: HttpRequest, pk: int) -> HttpResponse:
    service, _ = _service_for(request)
    try:
        event = reads.mark_reviewed(acting_user(request), service, pk)
    except NotPermitted as exc:
        raise PermissionDenied(exc.message) from None
    if event is None:
        raise Http404("No such event in your service.")
    messages.success(request, f"Review recorded for {event.histology.biopsy_request_id}.")
    return redirect(f"{reverse('dashboard-concordance')}?service={service.pk}#missed")
