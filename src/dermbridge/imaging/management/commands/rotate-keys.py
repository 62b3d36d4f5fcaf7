"""`dermbridge rotate-keys`: re-wrap every blob's data key with another master key.

Pixels are not re-encrypted: each blob keeps its own data key; only the small key record that
wraps it changes. With configured keys (DERMBRIDGE_BLOB_KEYS) name the new key id with --to (add it
to the variable first). With the generated keys of the embedded default, a new key is generated,
made active, and everything is re-wrapped with it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.audit.services import record
from dermbridge.imaging import storage
from dermbridge.imaging.blobstore import BlobStoreError


class Command(BaseCommand):
    help = "Re-wrap all blob data keys with a new master key (no pixel re-encryption)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", help="Key id to rotate to (must be in DERMBRIDGE_BLOB_KEYS).")

    def handle(self, *args: Any, **options: Any) -> None:
        target = options["to"]
        if settings.BLOB_KEYS:
            if not target:
                raise CommandError(
                    "Name the key to rotate to with --to (an id in DERMBRIDGE_BLOB_KEYS)."
                )
        else:
            target = storage.add_generated_key(target)
        storage.blob_store.cache_clear()
        store = storage.blob_store()
        try:
            changed = store.rotate_keys(target)
        except BlobStoreError as exc:
            raise CommandError(str(exc)) from None
        record(
            None,
            "blobs.rotate_keys",
            object_type="imaging.blob",
            detail={"to": target, "changed": changed},
        )
        self.stdout.write(f"Re-wrapped {changed} blob keys with key {target!r}.")
