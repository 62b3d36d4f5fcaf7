"""`dermbridge blobs-gc`: remove encrypted blobs that no image refers to.

Leftovers arise when an upload's transaction rolls back after its blob was written, when a
worker crashes between the two writes of a blob, or when a delete fails. Run it daily (cron or a
systemd timer); `--dry-run` lists what would go. Only what is older than the grace period is
touched, so uploads in flight are safe.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.imaging.blobstore import BlobStoreError
from dermbridge.imaging.services import sweep_blobs


class Command(BaseCommand):
    help = "Remove encrypted blobs no image refers to (older than the grace period)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=24.0,
            help="Only remove what is older than this (default 24; at least 1).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be removed; remove nothing."
        )

    def handle(self, *args: Any, grace_hours: float, dry_run: bool, **options: Any) -> None:
        if grace_hours < 1:
            raise CommandError("--grace-hours must be at least 1: uploads in flight need time.")
        try:
            report = sweep_blobs(grace_hours=grace_hours, dry_run=dry_run)
        except BlobStoreError as exc:
            raise CommandError(str(exc)) from None
        verb = "Would remove" if dry_run else "Removed"
        self.stdout.write(
            f"{verb} {len(report.unreferenced)} unreferenced blobs, "
            f"{len(report.stray_blobs)} stray blob files and {len(report.temporary)} "
            f"temporary files; kept {report.kept_recent} unreferenced blobs younger than "
            f"{grace_hours:g} h."
        )
        if report.unreadable_keys:
            self.stderr.write(
                f"{len(report.unreadable_keys)} key records could not be read (wrong or missing "
                "master key?) and were left alone: "
                + ", ".join(a[:12] + "..." for a in report.unreadable_keys[:10])
            )
