"""What a person reads from the reporting pages, each read audited where it is made.

The dashboard and its CSV export show a service's figures to its own staff; reading them is a
`report.view` or `report.export` event naming the service and the period. The pages ask here
rather than calling `services` and the audit trail themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import F

from dermbridge.audit.services import record
from dermbridge.core.errors import NotPermitted
from dermbridge.reporting import services
from dermbridge.reporting.concordance import ConcordanceReport
from dermbridge.reporting.concordance import concordance as concordance_report
from dermbridge.reporting.metrics import Dashboard, ExportRow, Period
from dermbridge.reporting.models import MissedCancer

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


def concordance(
    user: User, service: Organisation, period: Period
) -> tuple[ConcordanceReport, list[MissedCancer]]:
    """The concordance page for `period` (histology reported in it) and every missed-cancer
    event of the service, unreviewed first; the read is audited (it names referrals)."""
    report = concordance_report(service.pk, period.start, period.end)
    events = list(
        MissedCancer.objects.filter(service=service)
        .select_related("histology", "lesion__referral", "reviewed_by")
        .order_by(F("reviewed_at").asc(nulls_first=True), "-raised_at", "-id")
    )
    record(
        user,
        "report.view",
        object_type="accounts.organisation",
        object_id=service.pk,
        organisation_id=service.pk,
        detail={
            "report": "concordance",
            "start": str(period.start),
            "end": str(period.end),
            "lesions": len(report.rows),
            "missed_cancers": len(events),
            # Which lesions (so patients) the page named: who viewed a patient can be answered.
            "lesions_shown": sorted(
                {r.lesion_id for r in report.rows} | {e.lesion_id for e in events}
            ),
        },
    )
    return report, events


def mark_reviewed(user: User, service: Organisation, event_id: int) -> MissedCancer | None:
    """A service administrator records that a missed-cancer event was reviewed (audited)."""
    from django.utils import timezone

    from dermbridge.accounts.models import Role

    if service.pk not in user.organisation_ids(Role.SERVICE_ADMIN):
        raise NotPermitted("Only the service's administrators record a safety review.")
    event = MissedCancer.objects.filter(pk=event_id, service=service).first()
    if event is None:
        return None
    if event.reviewed_at is None:
        event.reviewed_by, event.reviewed_at = user, timezone.now()
        event.save(update_fields=["reviewed_by", "reviewed_at"])
        record(user, "safety.missed_cancer_reviewed", event, organisation_id=service.pk)
    return event
