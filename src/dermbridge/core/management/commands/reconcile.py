"""`dermbridge reconcile`: compare the database with the blob store and the task queue.

Prints a report (or `--json`); exit status 0 when nothing is wrong (or `--repair` fixed it all),
1 when a problem remains. `--quick` checks that blobs exist instead of decrypting each one.
`--repair` fixes what is safe to fix and says what needs a person (docs/operations.md).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.core import reconcile
from dermbridge.imaging.blobstore import BlobStoreError


class Command(BaseCommand):
    help = (
        "Check the database against the blob store and the task queue; --repair fixes what is safe."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--quick", action="store_true", help="Check blobs exist; do not decrypt each one."
        )
        parser.add_argument(
            "--repair", action="store_true", help="Fix what can be fixed safely (audited)."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=24.0,
            help="Unreferenced blobs younger than this are uploads in flight (default 24; "
            "at least 1), as for blobs-gc.",
        )
        parser.add_argument(
            "--stale-minutes",
            type=float,
            default=10.0,
            help="An image processing, or a referral submitted, this long with no task is stuck "
            "(default 10).",
        )
        parser.add_argument(
            "--waiting-minutes",
            type=float,
            default=60.0,
            help="A task queued this long and not started means no worker (default 60).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["grace_hours"] < 1:
            raise CommandError("--grace-hours must be at least 1: uploads in flight need time.")
        if options["stale_minutes"] <= 0 or options["waiting_minutes"] <= 0:
            raise CommandError("--stale-minutes and --waiting-minutes must be more than 0.")
        try:
            report = reconcile.run(
                quick=options["quick"],
                repair=options["repair"],
                grace_hours=options["grace_hours"],
                stale_minutes=options["stale_minutes"],
                waiting_minutes=options["waiting_minutes"],
            )
        except BlobStoreError as exc:
            raise CommandError(f"The blob store could not be read: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write(report.render())
        if not report.ok:
            raise SystemExit(1)
