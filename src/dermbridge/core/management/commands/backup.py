"""`dermbridge backup DEST`: a consistent database dump, the blob store and a manifest.

The backup holds no keys unless `--include-keys` is given: the photos in it are ciphertext, and
the blob master keys and secret key go to key escrow (docs/operations.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.core.backup import BackupError, backup


class Command(BaseCommand):
    help = "Back up the database (consistent snapshot) and the blob store to a new folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dest", help="A new or empty folder to write the backup to.")
        parser.add_argument(
            "--include-keys",
            action="store_true",
            help="ALSO copy the blob master keys and the secret key into the backup "
            "(whoever has the backup can then read every photo). Default: keys stay out.",
        )

    def handle(self, *args: Any, dest: str, include_keys: bool, **options: Any) -> None:
        if include_keys:
            self.stderr.write(
                self.style.WARNING(
                    "WARNING: --include-keys: this backup will contain the blob master keys "
                    "and the secret key. Anyone holding it can decrypt every patient photo. "
                    "Store it only where the keys themselves may be kept."
                )
            )
        try:
            manifest = backup(Path(dest), include_keys=include_keys, progress=self.stdout.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        blobs = manifest["blobs"]
        self.stdout.write(
            f"Backup written to {Path(dest).resolve()} in {manifest['seconds']:.1f} s: "
            f"{sum(manifest['tables'].values())} rows in {len(manifest['tables'])} tables, "
            + (
                f"{blobs['files']} blob files"
                if blobs["backend"] == "filesystem"
                else f"{blobs['objects']} S3 objects listed"
            )
            + f", {manifest['total_bytes'] / 1e6:.1f} MB in all."
        )
        if manifest["referenced_blobs_not_copied"]:
            self.stderr.write(
                f"{len(manifest['referenced_blobs_not_copied'])} blobs the snapshot names were "
                "removed before they could be copied (see manifest.json)."
            )
        keys = manifest["keys"]
        if not include_keys:
            self.stdout.write(
                "Keys NOT included. Blob keys live in "
                f"{keys['blob_keys_live_in']} (ids {', '.join(keys['blob_key_ids']) or '-'}); "
                f"the secret key in {keys['secret_key_lives_in']}. Keep both in key escrow: "
                "see docs/operations.md."
            )
        if options["verbosity"] > 1:
            self.stdout.write(json.dumps({k: v for k, v in manifest.items() if k != "files"}))
