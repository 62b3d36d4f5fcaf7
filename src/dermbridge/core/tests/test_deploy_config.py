"""Deployment configuration: secrets from files, no silent per-host secrets where hosts share data,
the database URL's options, the S3 options, key files re-read on rotation, every variable
documented. docs/deploy.md, docs/configuration.md."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dermbridge.config import ConfigurationError, database_from_url, env_secret
from dermbridge.core.checks import secret_problems

REPO = Path(__file__).resolve().parents[4]


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


# ------------------------------------------------------------------ secrets as DERMBRIDGE_*_FILE
def test_a_secret_can_be_given_as_a_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "secret_key"
    path.write_text("  from-a-credential-file-0123456789abcdef\n")
    monkeypatch.setenv("DERMBRIDGE_SECRET_KEY_FILE", str(path))
    assert env_secret("SECRET_KEY") == ("from-a-credential-file-0123456789abcdef", "file")
    monkeypatch.delenv("DERMBRIDGE_SECRET_KEY_FILE")
    monkeypatch.setenv("DERMBRIDGE_SECRET_KEY", "from-the-environment")
    assert env_secret("SECRET_KEY") == ("from-the-environment", "env")
    monkeypatch.delenv("DERMBRIDGE_SECRET_KEY")
    assert env_secret("SECRET_KEY", "d") == ("d", "")


def test_a_secret_file_that_cannot_be_used_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DERMBRIDGE_SMTP_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match=r"DERMBRIDGE_SMTP_PASSWORD_FILE=.*cannot be read"):
        env_secret("SMTP_PASSWORD")
    (tmp_path / "empty").write_text("\n")
    monkeypatch.setenv("DERMBRIDGE_SMTP_PASSWORD_FILE", str(tmp_path / "empty"))
    with pytest.raises(ConfigurationError, match="is empty"):
        env_secret("SMTP_PASSWORD")
    monkeypatch.setenv("DERMBRIDGE_SMTP_PASSWORD", "x")
    with pytest.raises(ConfigurationError, match="keep only one"):
        env_secret("SMTP_PASSWORD")


# ------------------------------------------------------------------ the refusal checks
PG = "django.db.backends.postgresql"
SQLITE = "django.db.backends.sqlite3"


@pytest.mark.parametrize(
    ("engine", "blob_backend", "secret_source", "blob_source", "demo", "expected"),
    [
        # The embedded default (SQLite and files on one host): generation is allowed.
        (SQLITE, "filesystem", "generated", "", False, []),
        (SQLITE, "filesystem", "data-dir", "", False, []),
        # A demo may do anything.
        (PG, "s3", "generated", "", True, []),
        # Shared data, per-host secrets: refused, each named.
        (PG, "filesystem", "ephemeral", "", False, ["dermbridge.E101", "dermbridge.E102"]),
        (PG, "filesystem", "data-dir", "env", False, ["dermbridge.E101"]),
        (PG, "filesystem", "file", "", False, ["dermbridge.E102"]),
        (SQLITE, "s3", "data-dir", "", False, ["dermbridge.E101", "dermbridge.E102"]),
        (SQLITE, "s3", "env", "file", False, []),
        (PG, "s3", "file", "file", False, []),
    ],
)
def test_per_host_secrets_are_refused_where_hosts_share_data(
    tmp_path, engine, blob_backend, secret_source, blob_source, demo, expected
) -> None:
    problems = secret_problems(
        demo_mode=demo,
        database_engine=engine,
        blob_backend=blob_backend,
        secret_key_source=secret_source,
        blob_keys_source=blob_source,
        data_dir=tmp_path,
    )
    assert [p.id for p in problems] == expected
    assert all(p.is_serious() for p in problems)
    for problem in problems:
        variable = (
            "DERMBRIDGE_SECRET_KEY" if problem.id == "dermbridge.E101" else "DERMBRIDGE_BLOB_KEYS"
        )
        assert variable in problem.msg and f"{variable}_FILE" in str(problem.hint)
        assert str(tmp_path) in problem.msg + str(problem.hint)  # where the per-host copy is


@pytest.mark.parametrize(
    ("engine", "blob_backend", "audit_source", "demo", "expected"),
    [
        (SQLITE, "filesystem", "data-dir", False, []),  # one host: its generated key is fine
        (PG, "filesystem", "data-dir", True, []),  # a demo
        (PG, "filesystem", "data-dir", False, ["dermbridge.E103"]),
        (SQLITE, "s3", "data-dir", False, ["dermbridge.E103"]),
        (PG, "s3", "file", False, []),
        (PG, "filesystem", "env", False, []),
    ],
)
def test_a_per_host_audit_key_is_refused_where_hosts_share_data(
    tmp_path, engine, blob_backend, audit_source, demo, expected
) -> None:
    """GIVEN hosts that share the database or the blob store WHEN the audit chain's key would
    be this host's own THEN the start is refused (E103), naming the variable and the host's file
    to carry over: another host's events would not verify against it."""
    problems = secret_problems(
        demo_mode=demo,
        database_engine=engine,
        blob_backend=blob_backend,
        secret_key_source="file",
        blob_keys_source="file",
        data_dir=tmp_path,
        audit_key_source=audit_source,
    )
    assert [p.id for p in problems] == expected
    for problem in problems:
        assert "DERMBRIDGE_AUDIT_KEY" in problem.msg
        assert "DERMBRIDGE_AUDIT_KEY_FILE" in str(problem.hint)
        assert str(tmp_path / "keys" / "audit-key") in problem.msg + str(problem.hint)


def _dermbridge(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DERMBRIDGE_", "DJANGO_"))}
    base.update(DJANGO_SETTINGS_MODULE="dermbridge.settings", DERMBRIDGE_DATA_DIR=str(tmp_path))
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "dermbridge.manage", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_postgresql_server_without_shared_keys_refuses_to_start(tmp_path: Path) -> None:
    """Nothing is generated on the host, and the errors say what to set (no server is needed:
    the check runs before anything connects)."""
    done = _dermbridge(
        tmp_path, "check", DERMBRIDGE_DATABASE_URL="postgres://dermbridge@127.0.0.1:9/dermbridge"
    )
    assert done.returncode != 0
    assert "dermbridge.E101" in done.stderr and "DERMBRIDGE_SECRET_KEY_FILE" in done.stderr
    assert "dermbridge.E102" in done.stderr and "DERMBRIDGE_BLOB_KEYS_FILE" in done.stderr
    assert "dermbridge.E103" in done.stderr and "DERMBRIDGE_AUDIT_KEY_FILE" in done.stderr
    assert not (tmp_path / "secret_key").exists()
    assert not (tmp_path / "keys").exists()


def test_the_same_server_starts_with_its_secrets_in_files(tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "secret_key").write_text("s" * 50)
    keys = {"keys": {"k1": _key()}, "active": "k1"}
    (tmp_path / "creds" / "blob-keys.json").write_text(json.dumps(keys))
    (tmp_path / "creds" / "audit_key").write_text(_key())
    done = _dermbridge(
        tmp_path / "data",
        "shell",
        "-c",
        "from django.conf import settings; from django.core.checks import run_checks; "
        "print([m.id for m in run_checks() if m.is_serious()], settings.SECRET_KEY_SOURCE, "
        "settings.BLOB_KEYS_SOURCE, settings.AUDIT_KEY_SOURCE)",
        DERMBRIDGE_DATABASE_URL="postgres://dermbridge@127.0.0.1:9/dermbridge",
        DERMBRIDGE_BLOB_BACKEND="filesystem",
        DERMBRIDGE_SECRET_KEY_FILE=str(tmp_path / "creds" / "secret_key"),
        DERMBRIDGE_BLOB_KEYS_FILE=str(tmp_path / "creds" / "blob-keys.json"),
        DERMBRIDGE_AUDIT_KEY_FILE=str(tmp_path / "creds" / "audit_key"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[] file file file"


# ------------------------------------------------------------------ blob keys: files, rotation
def test_a_rotation_written_to_the_key_file_reaches_a_running_process(
    tmp_path: Path, settings
) -> None:
    from dermbridge.imaging import storage

    k1, k2 = _key(), _key()
    key_file = tmp_path / "blob-keys"
    key_file.write_text(f"k1:{k1}")
    settings.BLOB_KEYS, settings.BLOB_KEYS_SOURCE = f"k1:{k1}", "file"
    settings.BLOB_KEYS_FILE, settings.BLOB_ROOT = str(key_file), str(tmp_path / "blobs")
    settings.BLOB_BACKEND = "filesystem"
    storage.blob_store.cache_clear()
    try:
        old = storage.blob_store()
        address = old.put(b"photo bytes")
        assert old.keyring.active_id == "k1" and storage.blob_store() is old  # loaded once
        # The operator adds k2 and makes it active (the JSON form of a generated key file).
        key_file.write_text(json.dumps({"keys": {"k1": k1, "k2": k2}, "active": "k2"}))
        os.utime(key_file, ns=(1, 1))  # a different time, even on a coarse clock
        new = storage.blob_store()
        assert new is not old and new.keyring.active_id == "k2"
        assert new.get(address) == b"photo bytes"
        assert new.rotate_keys("k2") >= 1 and new.get(address) == b"photo bytes"
    finally:
        storage.blob_store.cache_clear()


def test_s3_region_prefix_and_path_style_reach_the_client(settings, monkeypatch) -> None:
    pytest.importorskip("boto3")
    from dermbridge.imaging import storage

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    settings.S3_BUCKET, settings.S3_ENDPOINT_URL = "photos", "http://127.0.0.1:9"
    settings.S3_REGION, settings.S3_PREFIX = "eu-west-2", "/trust-a/"
    settings.S3_ADDRESSING_STYLE = "path"
    backend = storage._s3_backend()
    assert backend.client.meta.region_name == "eu-west-2"
    assert backend.client.meta.config.s3 == {"addressing_style": "path"}
    assert backend.prefix == "trust-a/"
    assert backend.client.meta.endpoint_url == "http://127.0.0.1:9"


def test_a_bad_addressing_style_is_named(tmp_path: Path) -> None:
    done = _dermbridge(tmp_path, "check", DERMBRIDGE_S3_ADDRESSING_STYLE="sideways")
    assert done.returncode != 0 and "DERMBRIDGE_S3_ADDRESSING_STYLE" in done.stderr


# ------------------------------------------------------------------ the database URL
def test_the_database_urls_query_options_are_kept() -> None:
    config = database_from_url(
        "postgres://app:p%40ss@db.trust.nhs.uk:6432/dermbridge"
        "?sslmode=verify-full&sslrootcert=/etc/ssl/nhs-ca.pem&connect_timeout=5"
        "&application_name=dermbridge-web",
        conn_max_age=0,
        disable_server_side_cursors=True,
    )
    assert config["OPTIONS"] == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ssl/nhs-ca.pem",
        "connect_timeout": 5,
        "application_name": "dermbridge-web",
    }
    assert (config["USER"], config["PASSWORD"], config["HOST"]) == (
        "app",
        "p@ss",
        "db.trust.nhs.uk",
    )
    assert config["PORT"] == 6432 and config["NAME"] == "dermbridge"
    assert config["CONN_MAX_AGE"] == 0 and config["CONN_HEALTH_CHECKS"] is True
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True  # PgBouncer, transaction pooling
    assert config["TEST"] == {"NAME": "dermbridge_test"}


def test_sqlite_keeps_its_immediate_transactions_and_timeout(tmp_path: Path) -> None:
    config = database_from_url(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert config["NAME"] == str(tmp_path / "db.sqlite3")
    assert config["OPTIONS"] == {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
    }
    with pytest.raises(ConfigurationError, match="DERMBRIDGE_DATABASE_URL scheme 'mysql'"):
        database_from_url("mysql://x@y/z")


# ------------------------------------------------------------------ every variable documented
def test_every_variable_settings_reads_is_in_the_configuration_doc() -> None:
    source = (REPO / "src" / "dermbridge" / "settings.py").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|list|path|secret)\(\s*"([A-Z0-9_]+)"', source))
    assert {"SECRET_KEY", "BLOB_KEYS", "TRUSTED_PROXIES", "WEB_WORKERS", "S3_REGION"} <= names
    doc = (REPO / "docs" / "configuration.md").read_text()
    lines = doc.splitlines()

    def documented(name: str) -> bool:
        if f"`DERMBRIDGE_{name}`" in doc:
            return True
        # A grouped row: `DERMBRIDGE_SMTP_HOST`, `_PORT`, ...
        family, _, rest = name.partition("_")
        return any(f"DERMBRIDGE_{family}_" in line and f"`_{rest}`" in line for line in lines)

    missing = sorted(name for name in names if not documented(name))
    assert not missing, f"docs/configuration.md does not list: {missing}"
    assert "_FILE" in doc  # how every secret can be given as a file


def test_a_sqlite_database_is_in_write_ahead_log_mode_with_full_sync(tmp_path: Path) -> None:
    from django.db.backends.sqlite3.base import DatabaseWrapper

    settings_dict = {
        **database_from_url(f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        "TIME_ZONE": None,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
    }
    wrapper = DatabaseWrapper(settings_dict, alias="wal-check")
    # The connection Django opens (its init commands run), without pytest-django's guard.
    conn = wrapper.get_new_connection(wrapper.get_connection_params())
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: each commit synced
    finally:
        conn.close()
