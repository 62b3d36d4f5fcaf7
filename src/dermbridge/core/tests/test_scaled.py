"""The scaled profile (`make run-scaled`, dermbridge.core.scaled): several web processes that share
nothing but the database and a real S3 server (SeaweedFS).

Fast (make test): two web processes and a task worker over one SQLite file and SeaweedFS, each
with its own data directory, talked to directly: a session made on one is honoured by the other,
a photo uploaded through one is viewed through the other, blob garbage collection and key
rotation run against the real S3 server, the audit chain verifies. Slow (make bench): the whole
profile (private PostgreSQL, nginx round robin, two workers, a scheduler) through the balancer.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dermbridge.core.scaled import Stack, missing_components, wait_for
from dermbridge.core.tests.harness import collected_static
from dermbridge.imaging.synthetic import lesion_photo

PASSWORD = "correct-horse-battery"


def _skip_unless(**needs: bool) -> None:
    missing = missing_components(**needs)
    if missing:
        pytest.skip("cannot run the scaled profile here: missing " + "; ".join(missing))


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    _skip_unless(private_postgres=False, balancer=False)
    root = Path(tempfile.mkdtemp(prefix="dermbridge-scaled-"))
    s = Stack(
        root,
        webs=2,
        workers=1,
        schedulers=0,
        web_threads=2,
        seed="world",
        database_url=f"sqlite:///{root / 'shared.sqlite3'}",
        balancer=False,
        static_root=collected_static(),
    )
    try:
        s.start()
        yield s
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


def login(base: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    done = session.post(
        f"{base}/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/login/"},
        timeout=30,
    )
    assert done.status_code == 200 and "/login/" not in done.url, done.url
    return session


def upload(stack: Stack, base: str, token: str, seed: int) -> int:
    api = {"Authorization": f"Token {token}", "Accept": "application/json"}
    from dermbridge.core.loadbench import _setup_file
    from dermbridge.testing import DEFAULT_HISTORY, DEFAULT_LESION

    parts = {"history": dict(DEFAULT_HISTORY), "lesion": dict(DEFAULT_LESION)}
    body = json.loads(_setup_file(stack.root, parts, []).read_text())["referral_template"]
    body["patient_details"].update(nhs_number=_nhs(seed), family_name=f"Scaled{seed}")
    made = requests.post(f"{base}/api/referrals/", json=body, headers=api, timeout=60)
    assert made.status_code == 201, made.text
    sent = requests.post(
        f"{base}/api/referrals/{made.json()['reference']}/lesions/1/images/",
        files={"file": ("lesion.jpg", lesion_photo(800, 640, seed=seed), "image/jpeg")},
        data={"image_type": "dermoscopic"},
        headers=api,
        timeout=60,
    )
    assert sent.status_code == 202, sent.text
    return int(sent.json()["id"])


def _nhs(seed: int) -> str:
    from dermbridge.testing import nhs_number_for

    return str(nhs_number_for(seed))


def media_key(stack: Stack, image_id: int) -> str:
    code = (
        "from dermbridge.imaging.models import LesionImage as L; "
        f"print(L.objects.get(pk={image_id}).media_key)"
    )
    return stack.cli("shell", "-c", code).strip().splitlines()[-1]


def test_a_session_made_on_one_web_process_is_honoured_by_the_other(stack: Stack) -> None:
    """GIVEN a GP signed in through web 1 WHEN their next requests go to web 2 (and back)
    THEN they are served as themselves: no second sign-in (sessions live in the database,
    signed with the one secret key every process is given)."""
    one, two = stack.web_base(0), stack.web_base(1)
    session = login(one, "alice")
    for base in (two, one, two):
        page = session.get(f"{base}/referrals/", timeout=30, allow_redirects=False)
        assert page.status_code == 200, (base, page.status_code, page.headers.get("Location"))
        assert "alice" in page.text.lower() or "Sign out" in page.text
    # The processes are separate "hosts": each has a data directory of its own, and the
    # refusal checks passed because every secret came as a _FILE variable.
    assert stack.env("web1")["DERMBRIDGE_DATA_DIR"] != stack.env("web2")["DERMBRIDGE_DATA_DIR"]
    assert "DERMBRIDGE_SECRET_KEY" not in stack.env("web1")
    assert Path(stack.env("web1")["DERMBRIDGE_SECRET_KEY_FILE"]).stat().st_mode & 0o077 == 0


def test_a_photo_uploaded_through_one_process_is_viewed_through_the_other_and_survives_key_rotation_and_gc(
    stack: Stack,
) -> None:
    """GIVEN a photo uploaded through web 1 (stored in SeaweedFS by the worker)
    THEN web 2 shows it; AND after `dermbridge rotate-keys --to k2` (the key file gains k2;
    no process restarted) both still show it; AND `dermbridge blobs-gc` removes nothing that
    is referred to and keeps an unreferenced blob younger than its grace period."""
    token = stack.cli("issue-token", "alice").strip().split()[-1]
    image_id = upload(stack, stack.web_base(0), token, seed=4242)
    api = {"Authorization": f"Token {token}", "Accept": "application/json"}

    def processed() -> bool:
        got = requests.get(f"{stack.web_base(1)}/api/images/{image_id}/", headers=api, timeout=30)
        return got.status_code == 200 and got.json().get("status") not in {"uploaded", "processing"}

    wait_for(processed, 180, "the worker to process the photo")
    key = media_key(stack, image_id)
    session = login(stack.web_base(1), "alice")

    def view(base: str) -> requests.Response:
        return session.get(f"{base}/images/{key}/thumbnail/", timeout=30)

    for base in (stack.web_base(1), stack.web_base(0)):
        seen = view(base)
        assert seen.status_code == 200 and seen.headers["Content-Type"] == "image/jpeg"
        assert seen.content[:2] == b"\xff\xd8"

    # Key rotation: add k2 to the shared key file (re-read on change), re-wrap everything.
    keys = stack.secrets_dir / "blob_keys"
    if "k2:" not in keys.read_text():
        keys.write_text(
            keys.read_text().strip() + ",k2:" + base64.b64encode(os.urandom(32)).decode() + "\n"
        )
    out = stack.cli("rotate-keys", "--to", "k2")
    assert re.search(r"Re-wrapped [1-9]\d* blob keys with key 'k2'", out), out
    time.sleep(1.1)  # the key file's change is noticed by its modification time
    for base in (stack.web_base(0), stack.web_base(1)):
        assert view(base).status_code == 200

    # Garbage collection against the real server: an orphan blob younger than the grace
    # period is kept; nothing referred to is removed.
    orphan = stack.cli(
        "shell", "-c",
        "from dermbridge.imaging.storage import blob_store; print(blob_store().put(b'orphan'))",
    ).strip().splitlines()[-1]  # fmt: skip
    out = stack.cli("blobs-gc", "--grace-hours", "1")
    assert "Removed 0 unreferenced blobs" in out and "kept 1 unreferenced" in out, out
    assert view(stack.web_base(0)).status_code == 200
    assert orphan


def test_the_s3_backend_against_seaweedfs(stack: Stack) -> None:
    """GIVEN the S3 backend on the real SeaweedFS server (path-style, a region, a prefix)
    THEN round trip, listing, dates, touch, rotation and the sweep all work."""
    import boto3  # type: ignore[import-untyped]

    from dermbridge.imaging.blobstore import BlobStore, Keyring, S3Backend

    access, secret = stack.credentials()
    from botocore.config import Config  # type: ignore[import-untyped]

    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{stack.s3_port}", region_name="us-east-1",
        aws_access_key_id=access, aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    store = BlobStore(
        S3Backend("dermbridge", prefix="s3-backend-test/", client=client),
        Keyring.from_config(f"k1:{k1},k2:{k2}", "k1"),
    )
    address = store.put(b"seaweed pixels")
    assert store.get(address) == b"seaweed pixels" and store.exists(address)
    assert store.rotate_keys("k2") == 1
    names = dict(store.backend.listing())
    assert sorted(n.rsplit(".", 1)[-1] for n in names) == ["blob", "key"]
    key_name = next(n for n in names if n.endswith(".key"))
    assert store.backend.modified(key_name) == pytest.approx(names[key_name], abs=2)
    assert store.backend.modified("no/such.key") is None
    store.backend.touch(key_name)
    assert store.get(address) == b"seaweed pixels"
    assert store.sweep(lambda: {address}, grace_seconds=0).removed == 0
    gone = store.sweep(set, grace_seconds=-60)
    assert gone.unreferenced == [address] and not store.exists(address)
    assert list(store.backend.listing()) == []


def test_the_audit_chain_of_several_processes_verifies(stack: Stack) -> None:
    out = stack.cli("audit-verify")
    assert "intact" in out.lower(), out
    assert "Object Lock" not in out, out  # the seal bucket was made with it
    # Every seal is also kept in SeaweedFS under Object Lock, which refuses to delete it.
    import boto3

    from dermbridge.core.scaled.seaweedfs import SEAL_BUCKET

    access, secret = stack.credentials()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{stack.s3_port}",
        region_name="us-east-1",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
    )
    copies = client.list_object_versions(Bucket=SEAL_BUCKET).get("Versions", [])
    lines = (stack.root / "audit-seals" / "seals.jsonl").read_text().splitlines()
    assert copies and len(copies) == len(lines), (len(copies), len(lines))
    newest = max(copies, key=lambda v: v["Key"])
    head = client.head_object(Bucket=SEAL_BUCKET, Key=newest["Key"], VersionId=newest["VersionId"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(Exception, match="AccessDenied"):
        client.delete_object(Bucket=SEAL_BUCKET, Key=newest["Key"], VersionId=newest["VersionId"])


@pytest.mark.slow
def test_the_whole_scaled_profile_through_the_balancer() -> None:
    """GIVEN make run-scaled's profile (private PostgreSQL, SeaweedFS, two web processes behind
    nginx round robin, two workers, a scheduler) THEN requests alternate between the two web
    processes, a signed-in user notices nothing, a photo uploaded through the balancer is
    processed and viewed on both, /readyz is ready, and the audit chain verifies."""
    _skip_unless(private_postgres=True, balancer=True)
    root = Path(tempfile.mkdtemp(prefix="dermbridge-scaled-full-"))
    from dermbridge.core.scaled import free_port

    s = Stack(root, port=free_port(), seed="world")
    try:
        s.start()
        session = login(s.base, "alice")
        answered = set()
        for _ in range(6):
            page = session.get(f"{s.base}/referrals/", timeout=30, allow_redirects=False)
            assert page.status_code == 200
            answered.add(page.headers["X-DermBridge-Upstream"])
        assert answered == {f"127.0.0.1:{p}" for p in s.web_ports}
        token = s.cli("issue-token", "alice").strip().split()[-1]
        image_id = upload(s, s.base, token, seed=5151)
        api = {"Authorization": f"Token {token}", "Accept": "application/json"}
        wait_for(
            lambda: (
                requests.get(f"{s.base}/api/images/{image_id}/", headers=api, timeout=30)
                .json()
                .get("status")
                not in {"uploaded", "processing"}
            ),
            180,
            "the photo to be processed",
        )
        key = media_key(s, image_id)
        for i in range(2):
            assert session.get(f"{s.web_base(i)}/images/{key}/thumbnail/").status_code == 200
        ready = requests.get(f"{s.base}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert "intact" in s.cli("audit-verify").lower()
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)
