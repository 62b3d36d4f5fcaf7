"""`dermbridge audit-rotate-key`: a new audit key, the old one kept for verification.

Writes the current key into the previous-keys file (appended, never rewritten), then a new random
key into the key file (each written to a temporary file, fsynced and renamed into place, mode
0600), then seals the chain under the new key. Every process re-reads the key files when they
change, so none needs a restart. Keys given in environment variables cannot be rotated here:
the command says what to set instead.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dermbridge.audit.keys import current_key_file, key_id, key_ring, previous_keys_file
from dermbridge.audit.services import seal_chain, verify_chain


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Command(BaseCommand):
    help = (
        "Rotate the audit chain's key: keep the current key for verification, start a new one, "
        "seal the chain under it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        key_file, previous_file = current_key_file(), previous_keys_file()
        if key_file is None or previous_file is None:
            raise CommandError(
                "The audit keys are given in environment variables (DERMBRIDGE_AUDIT_KEY or "
                "DERMBRIDGE_AUDIT_PREVIOUS_KEYS), which this command cannot change. Either move "
                "them to files (DERMBRIDGE_AUDIT_KEY_FILE and DERMBRIDGE_AUDIT_PREVIOUS_KEYS_FILE) "
                "or rotate by hand: add the current key to DERMBRIDGE_AUDIT_PREVIOUS_KEYS, set "
                "DERMBRIDGE_AUDIT_KEY to a new one, and restart every process (docs/deploy.md)."
            )
        before = verify_chain()
        if not before.ok:
            raise CommandError(
                f"Audit chain broken: {before.problem}. Rotate only an intact chain: a new key "
                "must not start from a tampered history."
            )
        ring = key_ring()
        now = timezone.now().isoformat()
        kept = [f"{base64.b64encode(ring.current).decode()} retired={now}"]
        for key in ring.previous:
            when = ring.retired_at(key)
            kept.append(
                base64.b64encode(key).decode() + (f" retired={when.isoformat()}" if when else "")
            )
        _write_atomically(previous_file, "\n".join(kept) + "\n")
        new_key = secrets.token_bytes(32)
        _write_atomically(key_file, base64.b64encode(new_key).decode() + "\n")
        ring = key_ring()  # the files changed: re-read, as every other process will
        if ring.current != new_key:
            raise CommandError(f"{key_file} was written but does not hold the new key.")
        seal_chain()
        self.stdout.write(
            f"Audit key rotated: new key {key_id(new_key)} in {key_file}; "
            f"{len(ring.previous)} earlier key(s) kept in {previous_file} "
            f"({', '.join(key_id(k) for k in ring.previous)}). Running processes pick the new "
            "key up at their next audited event. On other hosts, install both files as they are "
            f"now (previous keys first). Sealed under the new key in {settings.AUDIT_SEAL_DIR}."
        )
