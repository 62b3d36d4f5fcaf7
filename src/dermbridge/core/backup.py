"""`dermbridge backup DEST` and `dermbridge restore SRC`: a consistent copy of one instance.

A backup is a folder:

* ``database.sqlite3`` (SQLite's online backup API: one consistent snapshot while the service
  runs) or ``database.pgdump`` (``pg_dump -Fc`` of an exported snapshot);
* ``blobs/``: the encrypted blob store's files, copied after the database snapshot (filesystem
  backend), or ``blobs-s3.json``: the bucket's object keys with their versions and ETags (S3);
* ``manifest.json``: format, DermBridge version, time, the row count of every table and the
  applied migrations (both read from the snapshot itself), the size and sha256 of every file,
  any blob the snapshot names that could not be copied, and where the keys live;
* ``keys/`` only with ``--include-keys``: the blob master keys and the secret key. Without it the
  backup holds ciphertext only, useless to whoever takes it; the keys go to escrow separately.

Restoring needs an empty database (no tables) and an empty blob store; it checks every file's
sha256 first, and compares the restored row counts with the manifest.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

import dermbridge
from dermbridge.audit.services import record

FORMAT = "dermbridge-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
BLOBS_DIR = "blobs"
S3_MANIFEST = "blobs-s3.json"
KEYS_DIR = "keys"
_CHUNK = 1024 * 1024
_ADDRESS_FILE = re.compile(r"^([0-9a-f]{64})\.")

KEY_ESCROW = (
    "This backup holds encrypted photos only. To read them, the restored service needs the blob "
    "master keys (DERMBRIDGE_BLOB_KEYS, or the generated file <DATA_DIR>/keys/blob-keys.json) "
    "and the secret key (DERMBRIDGE_SECRET_KEY, or <DATA_DIR>/secret_key: patient links, "
    "sessions and password resets depend on it), and the audit key (DERMBRIDGE_AUDIT_KEY, or "
    "<DATA_DIR>/keys/audit-key: without it `audit-verify` cannot check the keyed audit chain). "
    "Keep them in key escrow, never beside the "
    "backups: e.g. a password manager or HSM controlled by two named people, or sealed paper "
    "copies in two places. Escrow them again whenever a key is added (dermbridge rotate-keys). "
    "To restore: put blob-keys.json and audit-key in <DATA_DIR>/keys/ (mode 600) and secret_key "
    "in <DATA_DIR>/ (or set the environment variables) before or after `dermbridge restore`."
)


class BackupError(Exception):
    """The backup or restore cannot go on; the message names the problem and what to do."""


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# ----------------------------------------------------------------------------- helpers


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashed(src: Path, dst: Path) -> tuple[int, str]:
    """Copy one file, hashing as it goes; (size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as reader, dst.open("wb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
    shutil.copystat(src, dst)  # keep modification times: blobs-gc's grace period reads them
    return size, digest.hexdigest()


def _find_pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore``: the newest under /usr/lib/postgresql/*/bin, else on PATH
    (a pg_dump older than the server refuses to dump it)."""
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(re.sub(r"\D", "", Path(p).parts[-3]) or 0),
    )
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    raise BackupError(
        f"{name} was not found on PATH or under /usr/lib/postgresql/*/bin: install the "
        "PostgreSQL client tools of the server's version (e.g. apt install postgresql-client)."
    )


def _pg_params() -> tuple[dict[str, str], dict[str, str]]:
    """(psycopg connection keywords, environment for pg_dump/pg_restore) from settings."""
    db = settings.DATABASES["default"]
    params = {
        "dbname": str(db["NAME"]),
        "user": str(db.get("USER") or ""),
        "password": str(db.get("PASSWORD") or ""),
        "host": str(db.get("HOST") or ""),
        "port": str(db.get("PORT") or ""),
    }
    env = dict(os.environ)
    for key, var in (
        ("host", "PGHOST"),
        ("port", "PGPORT"),
        ("user", "PGUSER"),
        ("password", "PGPASSWORD"),
    ):
        if params[key]:
            env[var] = params[key]
    env["PGDATABASE"] = params["dbname"]
    return {k: v for k, v in params.items() if v}, env


def _referenced(rows: Iterable[tuple[str, Any]]) -> set[str]:
    addresses: set[str] = set()
    for upload, derivatives in rows:
        if upload:
            addresses.add(upload)
        if isinstance(derivatives, str):
            derivatives = json.loads(derivatives or "{}")
        for entry in (derivatives or {}).values():
            if isinstance(entry, dict) and entry.get("address"):
                addresses.add(entry["address"])
    return addresses


@dataclass
class Snapshot:
    """What the database snapshot holds: row counts, applied migrations, blob addresses named."""

    tables: dict[str, int] = field(default_factory=dict)
    migrations: dict[str, list[str]] = field(default_factory=dict)
    referenced: set[str] = field(default_factory=set)


def _read_snapshot(cursor: Any, tables: list[str], quote: Callable[[str], str]) -> Snapshot:
    snap = Snapshot()
    for table in sorted(tables):
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 - catalogue names
        snap.tables[table] = int(cursor.fetchone()[0])
    if "django_migrations" in tables:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        for app, name in cursor.fetchall():
            snap.migrations.setdefault(app, []).append(name)
    if "imaging_lesionimage" in tables:
        cursor.execute("SELECT upload_address, derivatives FROM imaging_lesionimage")
        snap.referenced = _referenced(cursor.fetchall())
    return snap


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return [r[0] for r in rows]


def _quote_sqlite(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ----------------------------------------------------------------------------- database dump


def _dump_sqlite(target: Path) -> Snapshot:
    """SQLite's online backup API: one consistent copy, even while the service writes."""
    connection.ensure_connection()
    source = connection.connection
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)  # all pages in one step, under one read lock: a consistent snapshot
        return _read_snapshot(dest.cursor(), _sqlite_tables(dest), _quote_sqlite)
    finally:
        dest.close()


def _pg_tables(cursor: Any) -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return [r[0] for r in cursor.fetchall()]


def _quote_pg(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _dump_postgres(target: Path) -> Snapshot:
    """``pg_dump -Fc`` of an exported snapshot, read in the same snapshot for the manifest."""
    import psycopg

    params, env = _pg_params()
    pg_dump = _find_pg_tool("pg_dump")
    with psycopg.connect(**params) as conn:  # type: ignore[arg-type]
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            row = cursor.fetchone()
            assert row is not None
            result = subprocess.run(
                [pg_dump, "-Fc", f"--snapshot={row[0]}", "-f", str(target), params["dbname"]],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise BackupError(f"pg_dump failed: {result.stderr.strip()[-500:]}")
            return _read_snapshot(cursor, _pg_tables(cursor), _quote_pg)


# ----------------------------------------------------------------------------- blobs


def _copy_blob_files(root: Path, dest: Path, progress: Progress) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    if not root.exists():
        return files
    for path in sorted(root.rglob("*")):
        if path.name.startswith(".tmp-") or not path.is_file():
            continue  # interrupted writes are not data
        rel = path.relative_to(root).as_posix()
        try:
            size, digest = _copy_hashed(path, dest / rel)
        except FileNotFoundError:
            continue  # removed while we copied (a sweep, a processed upload): not in the snapshot
        files[f"{BLOBS_DIR}/{rel}"] = {"size": size, "sha256": digest}
        if len(files) % 1000 == 0:
            progress(f"  {len(files)} blob files copied")
    return files


def _s3_listing(dest: Path) -> dict[str, Any]:
    """The bucket's objects with versions (when versioning is on) and ETags: S3 keeps the data."""
    from dermbridge.imaging.storage import blob_store

    backend: Any = blob_store().backend
    client, bucket, prefix = backend.client, backend.bucket, backend.prefix
    versioning = client.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled")
    objects = []
    if versioning == "Enabled":
        paginator = client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Versions", []):
                if item.get("IsLatest"):
                    objects.append(
                        {
                            "key": item["Key"],
                            "version_id": item.get("VersionId"),
                            "etag": item.get("ETag", "").strip('"'),
                            "size": item.get("Size", 0),
                        }
                    )
    else:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                objects.append(
                    {
                        "key": item["Key"],
                        "version_id": None,
                        "etag": item.get("ETag", "").strip('"'),
                        "size": item.get("Size", 0),
                    }
                )
    listing = {
        "bucket": bucket,
        "prefix": prefix,
        "endpoint_url": settings.S3_ENDPOINT_URL,
        "versioning": versioning,
        "objects": objects,
    }
    (dest / S3_MANIFEST).write_text(json.dumps(listing, indent=1))
    return listing


# ----------------------------------------------------------------------------- keys


def _key_spec() -> tuple[str, dict[str, str]]:
    """(where the blob keys live, {key id: base64 key})."""
    if settings.BLOB_KEYS:
        keys = {}
        for item in filter(None, (p.strip() for p in settings.BLOB_KEYS.split(","))):
            key_id, _, encoded = item.partition(":")
            keys[key_id.strip()] = encoded.strip()
        return "environment variable DERMBRIDGE_BLOB_KEYS", keys
    path = Path(settings.DATA_DIR) / "keys" / "blob-keys.json"
    if not path.exists():
        return f"{path} (not created yet: no photo stored)", {}
    return str(path), dict(json.loads(path.read_text())["keys"])


def key_fingerprint(encoded: str) -> str:
    """A non-secret fingerprint of a key, to check that the escrowed key is the right one."""
    return hashlib.sha256(b"dermbridge-key-fingerprint:" + encoded.encode()).hexdigest()[:16]


def _secret_key_source() -> str:
    if os.environ.get("DERMBRIDGE_SECRET_KEY"):
        return "environment variable DERMBRIDGE_SECRET_KEY"
    return str(Path(settings.DATA_DIR) / "secret_key")


def _copy_keys(dest: Path) -> list[str]:
    keys_dir = dest / KEYS_DIR
    keys_dir.mkdir(mode=0o700)
    written = []
    generated = Path(settings.DATA_DIR) / "keys" / "blob-keys.json"
    if settings.BLOB_KEYS:
        env_file = keys_dir / "blob-keys.env"
        env_file.write_text(
            f"DERMBRIDGE_BLOB_KEYS={settings.BLOB_KEYS}\n"
            f"DERMBRIDGE_BLOB_ACTIVE_KEY={settings.BLOB_ACTIVE_KEY}\n"
        )
        written.append(env_file.name)
    elif generated.exists():
        shutil.copyfile(generated, keys_dir / "blob-keys.json")
        written.append("blob-keys.json")
    (keys_dir / "secret_key").write_text(settings.SECRET_KEY)
    written.append("secret_key")
    audit_key = Path(settings.DATA_DIR) / "keys" / "audit-key"
    if not (settings.AUDIT_KEY or settings.AUDIT_KEY_FILE) and audit_key.exists():
        shutil.copyfile(audit_key, keys_dir / "audit-key")
        written.append("audit-key")
    for name in written:
        (keys_dir / name).chmod(0o600)
    return [f"{KEYS_DIR}/{name}" for name in written]


# ----------------------------------------------------------------------------- backup


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


# ----------------------------------------------------------------------------- restore


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


def _restore_sqlite(src_file: Path) -> None:
    target = Path(str(settings.DATABASES["default"]["NAME"]))
    connection.close()
    source = sqlite3.connect(f"file:{src_file}?mode=ro", uri=True)
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)
    finally:
        dest.close()
        source.close()


def _restore_postgres(src_file: Path) -> None:
    connection.close()
    params, env = _pg_params()
    pg_restore = _find_pg_tool("pg_restore")
    result = subprocess.run(
        [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            params["dbname"],
            str(src_file),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()[-500:]}")


def _restore_keys(src: Path, manifest: dict[str, Any], warnings: list[str]) -> None:
    data_dir = Path(settings.DATA_DIR)
    keys_dir = src / KEYS_DIR
    if (keys_dir / "blob-keys.json").exists() and not settings.BLOB_KEYS:
        target = data_dir / "keys" / "blob-keys.json"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(keys_dir / "blob-keys.json", target)
        target.chmod(0o600)
    if (keys_dir / "blob-keys.env").exists() and not settings.BLOB_KEYS:
        warnings.append(
            f"The blob keys were set in the environment: set the variables in "
            f"{keys_dir / 'blob-keys.env'} for the restored service."
        )
    if (keys_dir / "audit-key").exists() and not (settings.AUDIT_KEY or settings.AUDIT_KEY_FILE):
        target = data_dir / "keys" / "audit-key"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(keys_dir / "audit-key", target)
        target.chmod(0o600)
    if (keys_dir / "secret_key").exists():
        if os.environ.get("DERMBRIDGE_SECRET_KEY"):
            warnings.append("DERMBRIDGE_SECRET_KEY is set: the backup's secret key was not used.")
        else:
            target = data_dir / "secret_key"
            target.write_text((keys_dir / "secret_key").read_text())
            target.chmod(0o600)


def _check_keys(manifest: dict[str, Any], referenced: set[str], warnings: list[str]) -> None:
    """Can the restored service read its photos? Never generates a key to find out."""
    wanted = manifest["keys"].get("blob_key_fingerprints", {})
    if not wanted:
        return
    if (
        not settings.BLOB_KEYS
        and not (Path(settings.DATA_DIR) / "keys" / "blob-keys.json").exists()
    ):
        warnings.append(
            "NOT READY: no blob keys here. Photos cannot be read until the escrowed keys are put "
            f"back: {Path(settings.DATA_DIR) / 'keys' / 'blob-keys.json'} (mode 600) or "
            f"DERMBRIDGE_BLOB_KEYS (ids {', '.join(sorted(wanted))})."
        )
        return
    _, keys = _key_spec()
    have = {k: key_fingerprint(v) for k, v in keys.items()}
    wrong = [k for k, fp in wanted.items() if have.get(k) != fp]
    if wrong:
        warnings.append(
            f"NOT READY: blob key(s) {', '.join(wrong)} are missing or differ from the ones this "
            "backup was made with: put the escrowed keys back."
        )
        return
    from dermbridge.imaging.storage import blob_store

    store = blob_store()
    for address in sorted(referenced)[:3]:
        store.get(address)  # raises BlobCorrupt/BlobNotFound: the caller reports it


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


def _check_s3(src: Path) -> list[str]:
    """S3 keeps the photos: check every object the manifest lists is still there."""
    from dermbridge.imaging.storage import blob_store

    listing = json.loads((src / S3_MANIFEST).read_text())
    backend: Any = blob_store().backend
    missing = []
    for item in listing["objects"]:
        kwargs = {"Bucket": listing["bucket"], "Key": item["key"]}
        if item.get("version_id"):
            kwargs["VersionId"] = item["version_id"]
        try:
            backend.client.head_object(**kwargs)
        except Exception:  # botocore ClientError; boto3 is optional
            missing.append(item["key"])
    if missing:
        return [
            f"{len(missing)} of {len(listing['objects'])} objects listed in {S3_MANIFEST} are "
            f"not in bucket {listing['bucket']} (first: {missing[0]}): restore them from the "
            "bucket's versions or replica."
        ]
    return []


def _migration_warnings(manifest: dict[str, Any]) -> list[str]:
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = {f"{app}.{name}" for app, name in loader.disk_migrations}
    applied = {f"{app}.{name}" for app, names in manifest["migrations"].items() for name in names}
    warnings = []
    unknown = sorted(m for m in applied - known if not m.startswith(("contenttypes.", "auth.")))
    if unknown:
        warnings.append(
            f"The backup has migrations this DermBridge does not know ({', '.join(unknown[:5])}): "
            f"it was made by a newer version ({manifest['dermbridge_version']}); install that."
        )
    if known - applied:
        warnings.append(
            f"{len(known - applied)} migrations of this DermBridge are not applied in the "
            "backup: run `dermbridge migrate` before starting the service."
        )
    return warnings
