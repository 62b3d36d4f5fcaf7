"""`dermbridge backup` / `restore`: a loaded instance backed up while it runs, restored into a
fresh data directory and database (SQLite file, or a new PostgreSQL database when the suite runs
on PostgreSQL), has the same rows, an intact audit chain, every photo decrypting to its recorded
sha256, and serves a referral page. Keys stay out of a backup unless asked for."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from dermbridge.core import backup as backups
from dermbridge.core import reconcile
from dermbridge.core.backup.blobs import _check_s3
from dermbridge.core.backup.keys import _check_keys
from dermbridge.imaging.storage import blob_store
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import World, make_referral

pytestmark = pytest.mark.django_db(transaction=True)
DERMBRIDGE = str(Path(sys.executable).with_name("dermbridge"))


@pytest.fixture(autouse=True)
def own_blob_store(settings: Any, tmp_path: Path) -> Iterator[None]:
    """A blob store of this test's own: what other tests leave in the shared one is not ours."""
    settings.BLOB_ROOT = tmp_path / "own-blobs"
    blob_store.cache_clear()
    yield
    blob_store.cache_clear()


VERIFY = """
import hashlib, json, os, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "dermbridge.settings"
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client
from dermbridge.accounts.models import User
call_command("audit-verify")  # raises (exit 1) on a broken chain
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.storage import blob_store
counts = {}
with connection.cursor() as cursor:
    for table in connection.introspection.table_names(cursor):
        cursor.execute('SELECT COUNT(*) FROM "%s"' % table)
        counts[table] = cursor.fetchone()[0]
store, checked, bad = blob_store(), 0, []
for image in LesionImage.objects.order_by("pk"):
    for name, entry in image.derivatives.items():
        checked += 1
        if hashlib.sha256(store.get(entry["address"])).hexdigest() != entry["sha256"]:
            bad.append((image.pk, name))
client = Client()
client.force_login(User.objects.get(username=sys.argv[2]))
response = client.get("/referrals/%s/" % sys.argv[1])
print(json.dumps({"counts": counts, "checked": checked, "bad": bad,
                  "status": response.status_code, "body": response.content.decode()}))
"""


def _table_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - catalogue names
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture
def target_db() -> Iterator[str]:
    """A fresh, empty database for the restored instance: a new SQLite file, or (when the suite
    runs on PostgreSQL) a new PostgreSQL database, dropped afterwards."""
    if connection.vendor == "sqlite":
        yield ""  # the restored data dir's default: <DATA_DIR>/dermbridge.sqlite3
        return
    import psycopg

    db = settings.DATABASES["default"]
    name = f"dermbridge_restore_{secrets.token_hex(4)}"
    auth = str(db["USER"]) + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    server = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DERMBRIDGE_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the real settings, as a restored service runs
    env.update(
        DERMBRIDGE_DATA_DIR=str(data_dir),
        DERMBRIDGE_TASK_BACKEND="immediate",
        DERMBRIDGE_REQUIRE_TWO_FACTOR="false",
        DERMBRIDGE_EMAIL_CHANNEL="file",
    )
    if database_url:
        env["DERMBRIDGE_DATABASE_URL"] = database_url
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    print(f"{args[1]}: {time.monotonic() - started:.1f} s")
    return result


def _load(world: World) -> Referral:
    """A small loaded instance: referrals in several states, images, AI reads, audit events."""
    under_review = make_referral(world, state=State.AWAITING_REVIEW)
    make_referral(world, state=State.TRIAGED)
    make_referral(world, state=State.DRAFT, referrer=world.bob)
    reconcile.run()
    return under_review


def _key_material() -> list[bytes]:
    data = json.loads((Path(settings.DATA_DIR) / "keys" / "blob-keys.json").read_text())
    import base64

    keys = [base64.b64decode(v) for v in data["keys"].values()]
    return keys + [k.encode() for k in data["keys"].values()] + [settings.SECRET_KEY.encode()]


def test_backup_then_restore_into_a_fresh_instance(
    world: World, tmp_path: Path, target_db: str
) -> None:
    """GIVEN a loaded instance WHEN it is backed up (no keys), the keys are taken from escrow, and
    the backup is restored into a new data directory and an empty database THEN every table has
    the same rows (plus the restore's own audit event), audit-verify passes, every image
    decrypts to its recorded sha256, and the restored service serves the referral page."""
    referral = _load(world)
    dest = tmp_path / "backup"
    call_command("backup", str(dest))
    source_counts = _table_counts()
    manifest = backups.read_manifest(dest)
    assert manifest["tables"] == source_counts
    assert manifest["keys"]["included"] is False and not (dest / "keys").exists()
    assert manifest["referenced_blobs"] > 0 and manifest["referenced_blobs_not_copied"] == []
    assert manifest["dermbridge_version"] and manifest["migrations"]["imaging"]
    # Ciphertext only: no key material anywhere in the backup.
    secrets_ = _key_material()
    for path in dest.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(secret in content for secret in secrets_), path

    # The restored instance: a new data dir with the escrowed keys put back.
    data_dir = tmp_path / "restored"
    (data_dir / "keys").mkdir(parents=True)
    shutil.copy(Path(settings.DATA_DIR) / "keys" / "blob-keys.json", data_dir / "keys")
    shutil.copy(Path(settings.DATA_DIR) / "keys" / "audit-key", data_dir / "keys")  # escrowed too
    (data_dir / "secret_key").write_text(settings.SECRET_KEY)
    env = _env(data_dir, target_db)
    restored = _run([DERMBRIDGE, "restore", str(dest)], env)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "NOT READY" not in restored.stderr

    checked = _run([sys.executable, "-c", VERIFY, str(referral.pk), world.derek.username], env)
    assert checked.returncode == 0, checked.stderr
    assert "Audit chain intact" in checked.stdout
    result = json.loads(checked.stdout.strip().splitlines()[-1])
    expected = dict(source_counts, audit_auditevent=source_counts["audit_auditevent"] + 1)
    assert result["counts"] == expected  # + the restore's own audit event
    assert result["checked"] == 9 * 5 and result["bad"] == []  # 3 referrals x 3 images x 5
    assert result["status"] == 200 and referral.reference in result["body"]


def test_restore_refuses_a_target_that_is_not_empty(world: World, tmp_path: Path) -> None:
    """GIVEN a backup WHEN it is restored over this instance (tables and blobs present) THEN it
    refuses, naming both problems, and changes nothing; a damaged file is refused by its hash."""
    _load(world)
    dest = tmp_path / "backup"
    backups.backup(dest)
    before = _table_counts()
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(dest))
    message = str(refused.value)
    assert "Nothing was restored" in message and "is not empty" in message
    assert "blob store" in message
    assert _table_counts() == before
    with pytest.raises(backups.BackupError, match="not an empty folder"):
        backups.backup(dest)
    blob = next(p for p in (dest / "blobs").rglob("*.blob"))
    data = blob.read_bytes()
    # Flip the last byte's bits: overwriting it with a fixed value left the file unchanged
    # whenever the (encrypted, so random) byte already had that value, 1 run in 256.
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(backups.BackupError, match=r"damaged: blobs/.*does not match"):
        backups.verify_files(dest, backups.read_manifest(dest))


def test_include_keys_puts_them_in_with_a_warning(
    world: World, tmp_path: Path, capsys: Any
) -> None:
    """GIVEN --include-keys WHEN backing up THEN a loud warning, and the blob keys and the secret
    key are in the backup, readable only by the owner, and listed in the manifest's hashes."""
    make_referral(world)
    dest = tmp_path / "backup"
    call_command("backup", str(dest), "--include-keys")
    assert "WARNING: --include-keys" in capsys.readouterr().err
    for name in ("blob-keys.json", "secret_key"):
        assert oct((dest / "keys" / name).stat().st_mode)[-3:] == "600"
        assert f"keys/{name}" in backups.read_manifest(dest)["files"]
    assert (dest / "keys" / "secret_key").read_text() == settings.SECRET_KEY


@pytest.mark.slow
def test_a_backup_with_keys_restores_into_a_bare_data_dir(
    world: World, tmp_path: Path, target_db: str
) -> None:
    """GIVEN a backup made with --include-keys WHEN restored into a bare data dir (no escrow
    step) THEN the photos read: reconcile's full check (every blob decrypted) finds nothing."""
    make_referral(world, state=State.AWAITING_REVIEW)
    dest = tmp_path / "backup"
    backups.backup(dest, include_keys=True)
    env = _env(tmp_path / "restored", target_db)
    restored = _run([DERMBRIDGE, "restore", str(dest)], env)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "NOT READY" not in restored.stderr
    checked = _run([DERMBRIDGE, "reconcile", "--skip-checks", "--stale-minutes", "100000"], env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No problems found" in checked.stdout


def test_restore_without_keys_says_it_is_not_ready(world: World, tmp_path: Path) -> None:
    """The keys check never generates a key: with none in place it says what to put where."""
    make_referral(world)
    manifest = backups.backup(tmp_path / "backup")
    warnings: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "DATA_DIR", tmp_path / "bare")
        _check_keys(manifest, {"ab" * 32}, warnings)
    assert warnings and "NOT READY" in warnings[0] and "blob-keys.json" in warnings[0]
    assert not (tmp_path / "bare" / "keys").exists()


@pytest.mark.bench
def test_backup_and_restore_time_per_gigabyte(world: World, tmp_path: Path) -> None:
    """~1 GB of encrypted blobs: time to back up and to restore, per GB (README figure)."""
    store = blob_store()
    addresses = [store.put(os.urandom(25 * 1024 * 1024)) for _ in range(40)]
    make_referral(world, state=State.AWAITING_REVIEW)
    dest = tmp_path / "backup"
    started = time.monotonic()
    manifest = backups.backup(dest)
    backup_s = time.monotonic() - started
    gigabytes = manifest["total_bytes"] / 1e9
    data_dir = tmp_path / "restored"
    (data_dir / "keys").mkdir(parents=True)
    shutil.copy(Path(settings.DATA_DIR) / "keys" / "blob-keys.json", data_dir / "keys")
    shutil.copy(Path(settings.DATA_DIR) / "keys" / "audit-key", data_dir / "keys")  # escrowed too
    env = _env(data_dir, "")
    started = time.monotonic()
    restored = _run([DERMBRIDGE, "restore", str(dest)], env)
    restore_s = time.monotonic() - started
    assert restored.returncode == 0, restored.stderr
    print(
        f"\nbackup+restore bench: {gigabytes:.2f} GB; backup {backup_s:.1f} s "
        f"({backup_s / gigabytes:.1f} s/GB); restore (incl. sha256 check, process start) "
        f"{restore_s:.1f} s ({restore_s / gigabytes:.1f} s/GB)"
    )
    for address in addresses:
        store.delete(address)


def test_an_s3_blob_store_is_backed_up_as_a_manifest_of_versions(
    world: World, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN photos in a versioned S3 bucket (a local S3 server) WHEN backing up THEN the backup
    lists every object with its version and ETag (S3 keeps the bytes), every blob the database
    names is listed, and the restore check finds them all, or names the one deleted since."""
    moto_server = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed: no local S3-compatible server"
    )
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(var, "test")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="dermbridge-photos")
        client.put_bucket_versioning(
            Bucket="dermbridge-photos", VersioningConfiguration={"Status": "Enabled"}
        )
        settings.BLOB_BACKEND, settings.S3_BUCKET = "s3", "dermbridge-photos"
        settings.S3_ENDPOINT_URL = endpoint
        blob_store.cache_clear()
        make_referral(world, state=State.AWAITING_REVIEW)
        dest = tmp_path / "backup"
        manifest = backups.backup(dest)
        listing = json.loads((dest / backups.S3_MANIFEST).read_text())
        assert listing["versioning"] == "Enabled" and manifest["blobs"]["backend"] == "s3"
        assert manifest["referenced_blobs"] > 0 and manifest["referenced_blobs_not_copied"] == []
        assert all(o["version_id"] and o["etag"] for o in listing["objects"])
        assert not (dest / "blobs").exists()
        assert _check_s3(dest) == []
        gone = listing["objects"][0]["key"]
        client.delete_object(
            Bucket="dermbridge-photos", Key=gone, VersionId=listing["objects"][0]["version_id"]
        )
        warnings = _check_s3(dest)
        assert len(warnings) == 1 and gone in warnings[0]
    finally:
        blob_store.cache_clear()
        server.stop()
