"""`dermbridge restore SRC`: restore a backup into an empty database and blob store.

Refuses, naming the problem, when the database has tables or the blob store has files. Checks
every file's sha256 before touching anything, and the restored row counts afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.core.backup import BackupError, restore


class Command(BaseCommand):
    help = "Restore a `dermbridge backup` folder into an empty database and data directory."
    requires_system_checks: list[str] = []  # the database is empty until we are done

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("src", help="The backup folder (with manifest.json).")

    def handle(self, *args: Any, src: str, **options: Any) -> None:
        try:
            result = restore(Path(src), progress=self.stdout.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = result.manifest
        self.stdout.write(
            f"Restored the backup of {manifest['created_at']} (DermBridge "
            f"{manifest['dermbridge_version']}) in {result.seconds:.1f} s: "
            f"{sum(result.tables.values())} rows in {len(result.tables)} tables."
        )
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
        if result.mismatched_tables:
            raise CommandError(
                "Restored row counts differ from the manifest: "
                + ", ".join(f"{t} {a} != {b}" for t, (a, b) in result.mismatched_tables.items())
            )
        self.stdout.write(
            "Next: `dermbridge audit-verify`, then `dermbridge reconcile`, then start the service."
        )
