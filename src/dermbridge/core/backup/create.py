"""``backup()``: write one backup folder (database snapshot, blobs, optional keys) and its
``manifest.json``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

import dermbridge
from dermbridge.audit.services import record

from .blobs import _copy_blob_files, _s3_listing
from .common import (
    _ADDRESS_FILE,
    BLOBS_DIR,
    FORMAT,
    MANIFEST,
    PG_FILE,
    S3_MANIFEST,
    SQLITE_FILE,
    BackupError,
    Progress,
    _quiet,
    sha256_file,
)
from .database import _dump_postgres, _dump_sqlite
from .keys import KEY_ESCROW, _copy_keys, _key_spec, _secret_key_source, key_fingerprint


def backup(
    dest: Path, *, include_keys: bool = False, progress: Progress = _quiet
) -> dict[str, Any]:
    """Write a backup of this instance to ``dest`` (new or empty); returns the manifest."""
    dest = Path(dest).resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} is not an empty folder: choose a new one for each backup.")
    blob_root = Path(settings.BLOB_ROOT).resolve()
    if settings.BLOB_BACKEND == "filesystem" and dest.is_relative_to(blob_root):
        raise BackupError(f"{dest} is inside the blob store ({blob_root}): choose another place.")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    started = time.monotonic()
    record(
        None,
        "backup.create",
        object_type="core.backup",
        detail={"include_keys": include_keys, "engine": connection.vendor},
    )
    progress(f"Database ({connection.vendor}): taking a consistent snapshot")
    if connection.vendor == "sqlite":
        db_file = SQLITE_FILE
        snap = _dump_sqlite(dest / db_file)
    elif connection.vendor == "postgresql":
        db_file = PG_FILE
        snap = _dump_postgres(dest / db_file)
    else:
        raise BackupError(f"Backing up a {connection.vendor} database is not supported.")
    files: dict[str, dict[str, Any]] = {
        db_file: {"size": (dest / db_file).stat().st_size, "sha256": sha256_file(dest / db_file)}
    }

    missing: list[str] = []
    blobs: dict[str, Any] = {"backend": settings.BLOB_BACKEND}
    if settings.BLOB_BACKEND == "filesystem":
        progress(f"Blob store: copying {blob_root}")
        blob_files = _copy_blob_files(blob_root, dest / BLOBS_DIR, progress)
        files.update(blob_files)
        copied = {
            m.group(1)
            for name in blob_files
            if (m := _ADDRESS_FILE.match(name.rsplit("/", 1)[-1])) and name.endswith(".key")
        }
        missing = sorted(snap.referenced - copied)
        blobs.update(files=len(blob_files), bytes=sum(f["size"] for f in blob_files.values()))
    else:
        progress("Blob store (S3): listing object keys, versions and ETags")
        listing = _s3_listing(dest)
        files[S3_MANIFEST] = {
            "size": (dest / S3_MANIFEST).stat().st_size,
            "sha256": sha256_file(dest / S3_MANIFEST),
        }
        keys_in_bucket = {
            m.group(1)
            for o in listing["objects"]
            if (m := _ADDRESS_FILE.match(o["key"].rsplit("/", 1)[-1])) and o["key"].endswith(".key")
        }
        missing = sorted(snap.referenced - keys_in_bucket)
        blobs.update(
            bucket=listing["bucket"],
            prefix=listing["prefix"],
            versioning=listing["versioning"],
            objects=len(listing["objects"]),
            bytes=sum(o["size"] for o in listing["objects"]),
        )
        if listing["versioning"] != "Enabled":
            progress(
                "WARNING: bucket versioning is off: this manifest records ETags, but an object "
                "overwritten or deleted later cannot be brought back. Turn versioning on."
            )

    key_source, keys = _key_spec()
    key_files = _copy_keys(dest) if include_keys else []
    for name in key_files:
        files[name] = {"size": (dest / name).stat().st_size, "sha256": sha256_file(dest / name)}
    manifest = {
        "format": FORMAT,
        "dermbridge_version": dermbridge.__version__,
        "created_at": datetime.now(UTC).isoformat(),
        "database": {
            "engine": connection.vendor,
            "file": db_file,
            "name": str(settings.DATABASES["default"]["NAME"]),
        },
        "tables": snap.tables,
        "migrations": snap.migrations,
        "blobs": blobs,
        "referenced_blobs": len(snap.referenced),
        "referenced_blobs_not_copied": missing,
        "files": files,
        "total_bytes": sum(f["size"] for f in files.values()),
        "keys": {
            "included": include_keys,
            "blob_keys_live_in": key_source,
            "blob_key_ids": sorted(keys),
            "blob_key_fingerprints": {k: key_fingerprint(v) for k, v in sorted(keys.items())},
            "secret_key_lives_in": _secret_key_source(),
            "escrow": KEY_ESCROW,
        },
        "seconds": round(time.monotonic() - started, 3),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest
