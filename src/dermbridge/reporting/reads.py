"""What a person reads from the reporting pages, each read audited where it is made.

The dashboard and its CSV export show a service's figures to its own staff; reading them is a
`report.view` or `report.export` event naming the service and the period. The pages ask here
rather than calling `services` and the audit trail themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dermbridge.audit.services import record
from dermbridge.reporting import services
from dermbridge.reporting.metrics import Dashboard, ExportRow, Period

if TYPE_CHECKING:
    from dermbridge.accounts.models import Organisation, User


def dashboard(user: User, service: Organisation, period: Period) -> Dashboard:
    """Every number on the service dashboard for `period`; the read is audited."""
    board = services.service_dashboard(service, period)
    record(
        user,
        "report.view",
        object_type="accounts.organisation",
        object_id=service.pk,
        organisation_id=service.pk,
        detail={"report": "dashboard", "start": str(period.start), "end": str(period.end)},
    )
    return board


def export_rows(user: User, service: Organisation, period: Period) -> list[ExportRow]:
    """The per-referral rows behind the dashboard, for the CSV export; the export is audited."""
    rows = services.export_rows(service.pk, period)
    record(
        user,
        "report.export",
        object_type="accounts.organisation",
        object_id=service.pk,
        organisation_id=service.pk,
        detail={
            "report": "referrals.csv",
            "start": str(period.start),
            "end": str(period.end),
            "rows": len(rows),
        },
    )
    return rows
