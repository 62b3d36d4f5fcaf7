"""The hub dashboard page and its CSV download, for the hub's service administrators only:
anyone who does not work at the hub gets 404 (recorded), its photographers 403. Thin: the
figures are clinics/dashboard.py's."""

from __future__ import annotations

import csv
import io

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dermbridge.accounts.models import Organisation, User
from dermbridge.audit.services import record_denial
from dermbridge.clinics import dashboard
from dermbridge.clinics.access import is_hub_admin, staff_hub


def _admin_hub(request: HttpRequest, hub_pk: int) -> Organisation:
    user: User = request.user  # type: ignore[assignment]
    hub = staff_hub(user, hub_pk)
    if hub is None:
        record_denial(
            user, "accounts.organisation", hub_pk, path=request.path, method=request.method
        )
        raise Http404("Not found")
    if not is_hub_admin(user, hub):
        raise PermissionDenied(f"Only {hub.name}'s service administrators see its dashboard.")
    return hub


def _weeks(request: HttpRequest) -> int:
    raw = request.GET.get("weeks", "")
    return int(raw) if raw.isdigit() and int(raw) in dashboard.WEEK_CHOICES else 8


@login_required
@require_GET
def hub_dashboard(request: HttpRequest, hub_pk: int) -> HttpResponse:
    hub = _admin_hub(request, hub_pk)
    weeks = _weeks(request)
    board = dashboard.hub_dashboard(request.user, hub, weeks=weeks)  # type: ignore[arg-type]
    return render(
        request,
        "clinics/dashboard.html",
        {"hub": hub, "board": board, "weeks": weeks, "week_choices": dashboard.WEEK_CHOICES},
    )


@login_required
@require_GET
def hub_dashboard_csv(request: HttpRequest, hub_pk: int) -> HttpResponse:
    """The dashboard's figures as CSV: counts and days, no patient identifiers."""
    hub = _admin_hub(request, hub_pk)
    board = dashboard.export(request.user, hub, weeks=_weeks(request))  # type: ignore[arg-type]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(dashboard.CSV_COLUMNS)
    writer.writerows(dashboard.csv_rows(board))
    filename = f"dermbridge-hub-{hub.ods_code}-{board.start}-{board.end}.csv"
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
