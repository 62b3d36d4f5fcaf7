"""The database part of a backup: a consistent snapshot (SQLite's online backup API, or
``pg_dump -Fc`` of an exported snapshot), what it holds (row counts, applied migrations, the
blob addresses it names), restoring it (SQLite backup, ``pg_restore``) and the migration checks
after a restore."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from .common import BackupError


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


# ----------------------------------------------------------------------------- dump


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


# ----------------------------------------------------------------------------- restore


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
