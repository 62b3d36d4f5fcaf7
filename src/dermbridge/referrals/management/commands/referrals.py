"""`dermbridge referrals [--json]`: list referrals with reference, kind, state and image count."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count

from dermbridge.audit.services import record
from dermbridge.referrals.models import Referral


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = "List referrals (for operators and integrators; audited as an export)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="One JSON array on stdout.")
        parser.add_argument("--state", help="Only referrals in this state.")

    def handle(self, *args: Any, **options: Any) -> None:
        qs = Referral.objects.annotate(image_count=Count("lesions__images")).order_by("created_at")
        if options["state"]:
            qs = qs.filter(state=options["state"])
        rows = [
            {
                "reference": r.reference,
                "kind": r.kind,
                "state": r.state,
                "image_count": r.image_count,
                "service": r.service.ods_code,
                "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
            }
            for r in qs.select_related("service")
        ]
        record(
            None,
            "referral.list_export",
            object_type="referrals.referral",
            detail={"count": len(rows), "via": "cli"},
        )
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            self.stdout.write(
                f"{row['reference']}  {row['kind']:<4} {row['state']:<20} "
                f"{row['image_count']} images"
            )
