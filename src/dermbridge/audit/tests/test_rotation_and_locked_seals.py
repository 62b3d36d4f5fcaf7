"""Audit key rotation (no restart, old events still verify, an old key cannot rewrite what the new
one wrote) and the seals' copies in an S3 bucket under Object Lock (a real S3-compatible server:
moto's), which catch a truncated chain even when the seal file was cut back too."""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from dermbridge.audit import keys, seal_copies, seals
from dermbridge.audit.models import AuditEvent, AuditHead
from dermbridge.audit.services import record, seal_chain, verify_chain

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_shard(settings):
    settings.AUDIT_SHARDS = 1


@pytest.fixture
def key_files(settings, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    key_file, previous = tmp_path / "audit-key", tmp_path / "audit-previous-keys"
    key_file.write_text(base64.b64encode(bytes(range(32))).decode() + "\n")
    settings.AUDIT_KEY, settings.AUDIT_KEY_FILE = "", str(key_file)
    settings.AUDIT_PREVIOUS_KEYS, settings.AUDIT_PREVIOUS_KEYS_FILE = "", str(previous)
    keys.audit_key.cache_clear()
    yield key_file, previous
    keys.audit_key.cache_clear()


def _events(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        record(None, "test.event", object_type="x", object_id=i, detail={"i": i})


def _rotate() -> str:
    out = io.StringIO()
    call_command("audit-rotate-key", stdout=out)
    return out.getvalue()


def test_a_rotation_keeps_old_events_verifiable_and_needs_no_restart(key_files):
    key_file, previous = key_files
    _events(5)
    old = keys.audit_key()
    message = _rotate()
    assert "Audit key rotated" in message and keys.key_id(old) in message
    # This process (standing for every running one) uses the new key without being told.
    new = keys.audit_key()
    assert new != old and keys.key_ring().previous == (old,)
    _events(5, start=5)
    events = list(AuditEvent.objects.order_by("shard_seq"))
    assert [e.hash == e.compute_hash(old) for e in events] == [True] * 5 + [False] * 5
    assert all(e.hash == e.compute_hash(new) for e in events[5:])
    result = verify_chain()
    assert result.ok and result.checked == 10, result.problem
    # The seal made under the old key still verifies; so does the one made by the rotation.
    assert len(seals.read_seals()[0]) >= 1 and not seals.read_seals()[1]
    assert previous.stat().st_mode & 0o777 == 0o600 and key_file.stat().st_mode & 0o777 == 0o600


def test_without_the_previous_key_the_old_events_are_named(key_files):
    _key_file, previous = key_files
    _events(3)
    _rotate()
    _events(2, start=3)
    previous.write_text("")  # someone "tidied up" the old key
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == 1
    assert "DERMBRIDGE_AUDIT_PREVIOUS_KEYS_FILE" in result.problem


def test_a_sealed_event_rewritten_with_a_leaked_old_key_is_caught(key_files):
    _events(3)
    old = keys.audit_key()
    _rotate()
    _events(3, start=3)
    assert seal_chain()  # the periodic seal, under the new key, covers events 4-6
    victim = AuditEvent.objects.get(shard=1, shard_seq=5)
    victim.action = "nothing happened"
    victim.hash = victim.compute_hash(old)
    later = AuditEvent.objects.get(shard=1, shard_seq=6)
    later.prev_hash = victim.hash
    later.hash = later.compute_hash(old)
    with connection.cursor() as cur:
        for e in (victim, later):
            cur.execute(
                "UPDATE audit_auditevent SET action = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                [e.action, e.prev_hash, e.hash, e.pk],
            )
        cur.execute("UPDATE audit_audithead SET last_hash = %s WHERE id = 1", [later.hash])
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == 6 and "sealed" in result.problem


def test_keys_in_the_environment_are_not_rotated_here(settings):
    settings.AUDIT_KEY = base64.b64encode(bytes(32)).decode()
    keys.audit_key.cache_clear()
    try:
        with pytest.raises(CommandError, match="restart every process"):
            _rotate()
    finally:
        keys.audit_key.cache_clear()


def test_a_broken_chain_is_not_rotated(key_files):
    key_file, _previous = key_files
    _events(3)
    AuditEvent.objects.filter(shard=1, shard_seq=2).update(action="changed")
    before = key_file.read_text()
    with pytest.raises(CommandError, match="Rotate only an intact chain"):
        _rotate()
    assert key_file.read_text() == before


# --- seal copies under Object Lock -----------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    moto_server = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed: no local S3-compatible server"
    )
    pytest.importorskip("boto3", reason="boto3 is not installed (pip install 'dermbridge[s3]')")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def locked_bucket(s3_server, settings, monkeypatch, request) -> Any:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    settings.S3_ENDPOINT_URL, settings.S3_REGION = s3_server, "us-east-1"
    settings.S3_ADDRESSING_STYLE = "path"
    bucket = f"seals-{request.node.name.replace('_', '-')[-40:]}".lower()
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    settings.AUDIT_SEAL_BUCKET = bucket
    return client


def _copies(client: Any, bucket: str) -> list[dict[str, Any]]:
    return client.list_object_versions(Bucket=bucket).get("Versions", [])


def test_each_seal_is_copied_under_compliance_retention(locked_bucket, settings):
    _events(4)
    assert seal_chain()
    [copy] = _copies(locked_bucket, settings.AUDIT_SEAL_BUCKET)
    line = seals.seal_path().read_text().splitlines()[-1].encode()
    assert copy["Key"] == seal_copies.object_name(line)
    head = locked_bucket.head_object(
        Bucket=settings.AUDIT_SEAL_BUCKET, Key=copy["Key"], VersionId=copy["VersionId"]
    )
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days = (head["ObjectLockRetainUntilDate"] - head["LastModified"]).days
    assert days >= settings.AUDIT_SEAL_RETENTION_DAYS - 1
    # Not even the bucket's owner can remove it before the retention ends.
    with pytest.raises(Exception, match="AccessDenied"):
        locked_bucket.delete_object(
            Bucket=settings.AUDIT_SEAL_BUCKET, Key=copy["Key"], VersionId=copy["VersionId"]
        )
    assert seal_copies.lock_problem() is None
    # The copy carries no patient data: it is the seal line itself.
    body = locked_bucket.get_object(Bucket=settings.AUDIT_SEAL_BUCKET, Key=copy["Key"])
    assert json.loads(body["Body"].read()).keys() == {"v", "heads", "at", "host", "sig"}


def test_truncation_with_the_seal_file_cut_back_is_caught_by_the_locked_copy(locked_bucket):
    _events(6)
    assert seal_chain()
    # The attacker holds the database and the seal host: remove the two newest events, move
    # the head back to the fourth, and empty the seal file.
    fourth = AuditEvent.objects.get(shard=1, shard_seq=4)
    AuditEvent.objects.filter(shard=1, shard_seq__gt=4).delete()
    AuditHead.objects.filter(id=1).update(last_seq=4, last_hash=fourth.hash, count=4)
    seals.seal_path().write_text("")
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == 5
    assert "were removed" in result.problem and "records #6" in result.problem
    # Without the bucket, the same attack would not be seen: that is what the copy is for.
    from django.conf import settings

    settings.AUDIT_SEAL_BUCKET = ""
    assert verify_chain().ok


def test_a_seal_made_while_the_bucket_is_unreachable_is_copied_with_the_next(
    locked_bucket, settings, caplog
):
    reachable = settings.S3_ENDPOINT_URL
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _events(2)
    assert seal_chain()  # the seal is in the file; the copy failed and was logged, not raised
    assert "next seal retries" in caplog.text
    settings.S3_ENDPOINT_URL = reachable
    assert _copies(locked_bucket, settings.AUDIT_SEAL_BUCKET) == []
    _events(1, start=2)
    assert seal_chain()
    assert len(_copies(locked_bucket, settings.AUDIT_SEAL_BUCKET)) == 2
    assert verify_chain().ok


def test_a_bucket_without_object_lock_is_reported(s3_server, settings, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    settings.S3_ENDPOINT_URL, settings.S3_REGION = s3_server, "us-east-1"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(
        Bucket="plain-seals"
    )
    settings.AUDIT_SEAL_BUCKET = "plain-seals"
    _events(1)
    err = io.StringIO()
    call_command("audit-verify", stdout=io.StringIO(), stderr=err)
    assert "has no Object Lock" in err.getvalue() and "plain-seals" in err.getvalue()


def test_a_seal_file_cut_back_by_its_newest_lines_is_caught_by_the_newer_copies(locked_bucket):
    """The walk starts at the bucket's newest copy, not at the file's: the copies the file lost
    are read until the walk meets a line the file still holds."""
    _events(3)
    assert seal_chain()
    _events(3, start=3)
    assert seal_chain()  # this seal (head #6) is the one the file loses
    fourth_hash = AuditEvent.objects.get(shard=1, shard_seq=4).hash
    AuditEvent.objects.filter(shard=1, shard_seq__gt=4).delete()
    AuditHead.objects.filter(id=1).update(last_seq=4, last_hash=fourth_hash, count=4)
    lines = seals.seal_path().read_text().splitlines()
    seals.seal_path().write_text("\n".join(lines[:-1]) + "\n")
    result = verify_chain()
    assert not result.ok and "were removed" in result.problem and "records #6" in result.problem


def test_a_seal_dated_in_the_future_is_refused(settings):
    """A seal claiming a time ahead of this host's clock (beyond a small skew) cannot pose as
    the newest: it is reported, whoever signed it."""
    import datetime as dt

    from django.utils import timezone

    _events(2)
    assert seal_chain()
    line = json.loads(seals.seal_path().read_text().splitlines()[-1])
    line.pop("sig")
    line["at"] = (timezone.now() + dt.timedelta(days=365)).isoformat()
    line["sig"] = seals._sign(line)
    with seals.seal_path().open("a") as fh:
        fh.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")
    _found, problems = seals.read_seals()
    assert problems and "in the future" in problems[0]
    assert not verify_chain().ok


def test_a_retired_key_signs_no_seal_after_its_retirement(key_files):
    """The rotation records when the old key was retired; a seal signed with it and dated after
    that (beyond an hour's grace for hosts still being given the new file) is refused, while
    the seals it made before still verify."""
    import datetime as dt

    from django.utils import timezone

    _key_file, previous = key_files
    _events(3)
    assert seal_chain()  # signed with the key about to be retired
    old = keys.audit_key()
    _rotate()
    assert "retired=" in previous.read_text()
    retired = keys.key_ring().retired_at(old)
    assert retired is not None and abs((timezone.now() - retired).total_seconds()) < 60
    assert not seals.read_seals()[1] and verify_chain().ok  # the old key's seals still verify
    # Someone who kept the old key signs a seal dated a day after its retirement.
    forged = {
        "v": 2,
        "heads": [[1, 3, "0" * 64, 3, 1]],
        "at": (retired + dt.timedelta(days=1)).isoformat(),
        "host": "x",
    }
    forged["sig"] = seals._sign(forged, keys._seal_key_from(old))
    with seals.seal_path().open("a") as fh:
        fh.write(json.dumps(forged, sort_keys=True, separators=(",", ":")) + "\n")
    _found, problems = seals.read_seals()
    assert problems and "retired at" in problems[0]
    assert not verify_chain().ok


def test_a_previous_key_with_a_bad_retirement_time_is_named(key_files, settings):
    from dermbridge.config import ConfigurationError

    _key_file, previous = key_files
    previous.write_text(base64.b64encode(bytes(range(1, 33))).decode() + " retired=yesterday\n")
    keys.audit_key.cache_clear()
    with pytest.raises(ConfigurationError, match="retired=yesterday"):
        keys.key_ring()
