"""``restore()``: read and verify a backup's manifest and files, check that the target is empty,
then restore the database, the blobs and the keys and compare the result with the manifest."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from dermbridge.audit.services import record

from .blobs import _check_s3
from .common import (
    BLOBS_DIR,
    FORMAT,
    KEYS_DIR,
    MANIFEST,
    BackupError,
    Progress,
    _copy_hashed,
    _quiet,
    sha256_file,
)
from .database import (
    _migration_warnings,
    _pg_tables,
    _quote_pg,
    _quote_sqlite,
    _read_snapshot,
    _restore_postgres,
    _restore_sqlite,
)
from .keys import _check_keys, _restore_keys


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    tables: dict[str, int]
    mismatched_tables: dict[str, tuple[int, int]]
    warnings: list[str]
    seconds: float


def read_manifest(src: Path) -> dict[str, Any]:
    path = Path(src) / MANIFEST
    if not path.exists():
        raise BackupError(f"{src} is not a DermBridge backup: it has no {MANIFEST}.")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{path} is in format {manifest.get('format')!r}; this DermBridge reads {FORMAT!r}."
        )
    return manifest


def verify_files(src: Path, manifest: dict[str, Any], progress: Progress = _quiet) -> None:
    """Every file the manifest lists is present with its size and sha256 (else BackupError)."""
    progress(f"Checking the sha256 of {len(manifest['files'])} files")
    for name, expected in manifest["files"].items():
        path = Path(src) / name
        if not path.is_file():
            raise BackupError(f"The backup is incomplete: {name} is missing.")
        if path.stat().st_size != expected["size"] or sha256_file(path) != expected["sha256"]:
            raise BackupError(f"The backup is damaged: {name} does not match its sha256.")


def _target_problems(manifest: dict[str, Any]) -> list[str]:
    problems = []
    engine = manifest["database"]["engine"]
    if connection.vendor != engine:
        problems.append(
            f"the backup is of a {engine} database but this service is configured for "
            f"{connection.vendor} (DERMBRIDGE_DATABASE_URL)"
        )
    else:
        tables = connection.introspection.table_names()
        if tables:
            problems.append(
                f"the database {settings.DATABASES['default']['NAME']} is not empty "
                f"({len(tables)} tables, e.g. {tables[0]}): restore into a new, empty database"
            )
    if manifest["blobs"]["backend"] != settings.BLOB_BACKEND:
        problems.append(
            f"the backup's blob store is {manifest['blobs']['backend']!r} but this service uses "
            f"{settings.BLOB_BACKEND!r} (DERMBRIDGE_BLOB_BACKEND)"
        )
    elif settings.BLOB_BACKEND == "filesystem":
        root = Path(settings.BLOB_ROOT)
        if root.exists() and any(p.is_file() for p in root.rglob("*")):
            problems.append(
                f"the blob store {root} is not empty: restore into an empty data directory "
                "(DERMBRIDGE_DATA_DIR) or blob root (DERMBRIDGE_BLOB_ROOT)"
            )
    if manifest["keys"]["included"] and not settings.BLOB_KEYS:
        existing = Path(settings.DATA_DIR) / "keys" / "blob-keys.json"
        backed_up = Path(manifest.get("_src", "")) / KEYS_DIR / "blob-keys.json"
        if (
            existing.exists()
            and backed_up.exists()
            and existing.read_bytes() != backed_up.read_bytes()
        ):
            problems.append(f"{existing} already holds other blob keys: remove it first")
    return problems


def restore(src: Path, *, progress: Progress = _quiet) -> RestoreResult:
    """Restore the backup at ``src`` into this (empty) instance."""
    src = Path(src).resolve()
    started = time.monotonic()
    manifest = read_manifest(src)
    manifest["_src"] = str(src)
    problems = _target_problems(manifest)
    if problems:
        raise BackupError("Nothing was restored: " + "; ".join(problems) + ".")
    verify_files(src, manifest, progress)
    warnings: list[str] = []
    if manifest["referenced_blobs_not_copied"]:
        warnings.append(
            f"{len(manifest['referenced_blobs_not_copied'])} blobs the database names were "
            "removed while the backup ran (processed uploads, deleted drafts): "
            "`dermbridge reconcile --repair` settles them after the restore."
        )
    db_file = src / manifest["database"]["file"]
    progress(f"Database: restoring {db_file.name}")
    if manifest["database"]["engine"] == "sqlite":
        _restore_sqlite(db_file)
    else:
        _restore_postgres(db_file)
    if settings.BLOB_BACKEND == "filesystem":
        root = Path(settings.BLOB_ROOT)
        progress(f"Blob store: copying {manifest['blobs']['files']} files into {root}")
        for name, expected in manifest["files"].items():
            if name.startswith(BLOBS_DIR + "/"):
                _, digest = _copy_hashed(src / name, root / name[len(BLOBS_DIR) + 1 :])
                if digest != expected["sha256"]:
                    raise BackupError(f"{name} changed while it was being restored.")
    else:
        warnings.extend(_check_s3(src))
    _restore_keys(src, manifest, warnings)

    connection.close()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            names = connection.introspection.table_names(cursor)
            snap = _read_snapshot(cursor, names, _quote_sqlite)
        else:
            snap = _read_snapshot(cursor, _pg_tables(cursor), _quote_pg)
    mismatched = {
        t: (n, snap.tables.get(t, -1))
        for t, n in manifest["tables"].items()
        if snap.tables.get(t, -1) != n
    }
    try:
        _check_keys(manifest, snap.referenced, warnings)
    except Exception as exc:  # the photos cannot be read: say so, the data is restored
        warnings.append(f"NOT READY: a restored photo cannot be read ({exc}).")
    warnings.extend(_migration_warnings(manifest))
    record(
        None,
        "backup.restore",
        object_type="core.backup",
        detail={
            "created_at": manifest["created_at"],
            "tables": len(snap.tables),
            "mismatched_tables": len(mismatched),
            "files": len(manifest["files"]),
        },
    )
    return RestoreResult(
        manifest=manifest,
        tables=snap.tables,
        mismatched_tables=mismatched,
        warnings=warnings,
        seconds=round(time.monotonic() - started, 3),
    )
