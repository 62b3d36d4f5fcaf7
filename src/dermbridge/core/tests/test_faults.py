"""Fault injection with real processes and real signals (issue #10): nothing acknowledged is lost.

Each test runs DermBridge as it runs in production — a web server, task workers and a scheduler,
each its own process — over its own data directory and database, and breaks something for real:
SIGKILL to the web server mid-request or to a worker mid-task, a private PostgreSQL cluster
stopped with ``pg_ctl -m immediate``, the blob store's disk filling up. Loopback only, bounded in
time. These are the fast versions (``make test``); ``test_faults_long.py`` runs longer ones in
``make bench`` and writes the figures for the README's reliability section.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from dermbridge.core.scaled import PrivateCluster
from dermbridge.core.tests.harness import (
    Deployment,
    photo,
    referral_body,
    verify,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

# make bench runs the same tests longer (DERMBRIDGE_FAULT_SCALE=5) and keeps their figures.
SCALE = max(1, int(os.environ.get("DERMBRIDGE_FAULT_SCALE", "1")))
_RESULTS_ENV = os.environ.get("DERMBRIDGE_FAULT_RESULTS", "")
RESULTS = Path(_RESULTS_ENV) if _RESULTS_ENV else None


def record_result(name: str, figures: dict[str, Any]) -> None:
    """Keep a test's figures (make bench writes them to docs/benchmarks/faults.json)."""
    print(f"\n{name}: {json.dumps(figures)}")
    if RESULTS is not None:
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data[name] = figures
        RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


class Client:
    """A capture app that retries what got no answer (or a 503) with the same Idempotency-Key,
    as a well-behaved client does, and records what the service acknowledged."""

    def __init__(self, deployment: Deployment, seed: int) -> None:
        self.d, self.seed = deployment, seed
        self.referrals: list[str] = []
        self.images: list[int] = []
        self.tried = self.unanswered = self.unavailable = 0

    def call(self, method: str, path: str, deadline: float, **kwargs: Any) -> Any:
        key = uuid.uuid4().hex
        while time.monotonic() < deadline:
            self.tried += 1
            answer = self.d.request(method, path, headers={"Idempotency-Key": key}, **kwargs)
            if answer.status == 0:
                self.unanswered += 1
            elif answer.status in (409, 503):  # still in flight, or down: retry the same key
                self.unavailable += 1
            else:
                return answer
            time.sleep(0.3 + random.random() * 0.3)
        return None

    def run(self, rounds: int, deadline: float) -> None:
        for n in range(rounds):
            seed = self.seed * 1000 + n
            made = self.call("POST", "/api/referrals/", deadline, json_body=referral_body(seed))
            if made is None:
                return
            assert made.status == 201, (made.status, made.body)
            reference = made.body["reference"]
            self.referrals.append(reference)
            for kind_n, kind in enumerate(("overview", "close_up")):
                sent = self.call(
                    "POST",
                    f"/api/referrals/{reference}/lesions/1/images/",
                    deadline,
                    files={"file": ("lesion.jpg", photo(seed * 10 + kind_n), "image/jpeg")},
                    fields={"image_type": kind},
                )
                if sent is None:
                    return
                assert sent.status == 202, (sent.status, sent.body)
                self.images.append(sent.body["id"])


def _deployment(tmp_path: Path, **kwargs: Any) -> Deployment:
    from django.db import connection

    if connection.vendor == "postgresql":
        # These bring their own database (SQLite, or a private PostgreSQL cluster): running them
        # again in the suite's PostgreSQL pass would test nothing new and cost minutes.
        pytest.skip("runs once, in the SQLite pass: it brings its own database")
    deployment = Deployment(tmp_path, **kwargs)
    deployment.setup()
    return deployment


# ~2 minutes of kills and restarts: make bench. Fast siblings in make test: a retry after a
# request died (test_idempotency.py, test_idempotency_live.py) and reconcile (test_reconcile.py).
@pytest.mark.slow
def test_web_server_killed_repeatedly_while_clients_create_and_upload(tmp_path: Path) -> None:
    """GIVEN three capture apps creating referrals and uploading photos
    WHEN the web server is killed with SIGKILL three times (and restarted each time)
    THEN every acknowledged referral and photo has its rows and blobs, no retried request made a
    second referral, and the worker processes every acknowledged photo."""
    d = _deployment(tmp_path)
    try:
        d.start_threaded_web()
        d.start_worker()
        rounds, planned_kills = 3 * SCALE, 3 * SCALE
        deadline = time.monotonic() + 150 * SCALE
        clients = [Client(d, seed) for seed in (1, 2, 3)]
        threads = [threading.Thread(target=c.run, args=(rounds, deadline)) for c in clients]
        started = time.monotonic()
        for t in threads:
            t.start()
        kills = 0
        while kills < planned_kills and any(t.is_alive() for t in threads):
            time.sleep(1.2 + random.random())
            d.kill("web")
            kills += 1
            time.sleep(0.5)
            d.start_threaded_web()
        for t in threads:
            t.join(timeout=max(1, deadline - time.monotonic()))
        refs = [r for c in clients for r in c.referrals]
        images = [i for c in clients for i in c.images]
        assert len(refs) == 3 * rounds and len(images) == 6 * rounds, "clients did not finish"
        elapsed = time.monotonic() - started
        state = verify(d, refs, images)
        assert state["missing_referrals"] == [] and state["missing_images"] == []
        assert state["missing_blobs"] == []
        made = d.python(
            "import json; from dermbridge.referrals.models import Referral; "
            "print(json.dumps(Referral.objects.count()))"
        )
        assert made == len(refs), "a retried request created a second referral"

        def processed() -> bool:
            return verify(d, refs, images)["statuses"].get("processing", 0) == 0

        wait_for(processed, 120, "the worker to process every acknowledged photo", every=1)
        final = verify(d, refs, images)
        assert final["statuses"] == {"ready": len(images)}, final
        # The database and the blob store agree: nothing dangling, nothing stuck (blobs a killed
        # request wrote without a row are younger than blobs-gc's grace period: counted, no fault).
        d.cli("reconcile", "--quick")
        record_result(
            "web_sigkill",
            {
                "operations_acknowledged": len(refs) + len(images),
                "requests_tried": sum(c.tried for c in clients),
                "requests_unanswered": sum(c.unanswered for c in clients),
                "faults_injected": kills,
                "lost": 0,
                "seconds": round(elapsed, 1),
            },
        )
    finally:
        d.stop_all()


# ~2 minutes: make bench. Fast siblings in make test: test_worker_lease.py (a real worker
# killed with SIGKILL mid-task, its task run again exactly once; the lease rules in-process).
@pytest.mark.slow
def test_a_worker_killed_mid_pipeline_has_its_tasks_run_again_within_a_lease(
    tmp_path: Path,
) -> None:
    """GIVEN photos queued for the pipeline and a worker processing them
    WHEN the worker is killed with SIGKILL mid-task and another worker is running
    THEN every photo is processed within a lease (5 s here) plus 30 s of the kill, each exactly
    once (one image.processed audit event per photo), and the audit chain verifies."""
    d = _deployment(tmp_path, lease_seconds=5)
    try:
        d.start_threaded_web()
        made = d.request("POST", "/api/referrals/", json_body=referral_body(77))
        assert made.status == 201
        reference = made.body["reference"]
        ids = []
        for n, kind in enumerate(("overview", "close_up", "dermoscopic")):
            sent = d.request(
                "POST",
                f"/api/referrals/{reference}/lesions/1/images/",
                files={"file": ("lesion.jpg", photo(7700 + n), "image/jpeg")},
                fields={"image_type": kind},
            )
            assert sent.status == 202, sent.body
            ids.append(sent.body["id"])
        d.start_worker("worker-a")

        def running() -> list[tuple[Any, ...]]:
            return d.sql(
                "SELECT id FROM django_tasks_database_dbtaskresult WHERE status = 'RUNNING'"
            )

        killed_task = wait_for(running, 90, "a task to be running", every=0.05)[0][0]
        d.kill("worker-a")
        killed_at = time.monotonic()
        d.start_worker("worker-b")

        def taken_again() -> bool:
            [(worker_ids,)] = d.sql(
                "SELECT worker_ids FROM django_tasks_database_dbtaskresult WHERE id = ?",
                killed_task,
            )
            return "worker-b" in json.loads(worker_ids)

        # The bound the issue sets: running again within one lease (5 s) plus 30 s. Another
        # worker's process must start first, which on a loaded 2-core machine takes seconds too.
        wait_for(taken_again, 5 + 30 + 15, "the killed worker's task to run again", every=0.5)
        recovery = time.monotonic() - killed_at

        def done() -> bool:
            return verify(d, [reference], ids)["statuses"].get("processing", 0) == 0

        wait_for(done, 120, "every photo to be processed", every=0.5)
        state = verify(d, [reference], ids)
        assert state["statuses"] == {"ready": 3}, state
        counts = d.python(
            "import json; from collections import Counter; "
            "from dermbridge.audit.models import AuditEvent; "
            "print(json.dumps(Counter(AuditEvent.objects.filter(action='image.processed')"
            ".values_list('object_id', flat=True)).most_common(1)[0][1]))"
        )
        assert counts == 1, "an image was processed twice"
        assert "intact" in d.cli("audit-verify").lower()
        assert recovery < 5 + 30 + 15
        record_result(
            "worker_sigkill",
            {"tasks": 3, "faults_injected": 1, "lost": 0, "recovery_seconds": round(recovery, 1)},
        )
    finally:
        d.stop_all()


@pytest.fixture
def cluster(tmp_path: Path):
    """A private PostgreSQL cluster under the test's temp dir (never the machine's own)."""
    # Its own folder under /tmp: the cluster runs as the postgres user, who cannot enter
    # pytest's root-only temp tree.
    root = Path(tempfile.mkdtemp(prefix="dermbridge-pg-"))
    pg = PrivateCluster(root)
    why = pg.available
    if why:
        pytest.skip(why)
    try:
        pg.init()
        pg.start()
        pg.createdb()
        yield pg
    finally:
        pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


# A private PostgreSQL cluster stopped and started: make bench. Fast siblings in make test:
# test_outages.py (worker and scheduler back-off, in-process), test_availability.py (the 503).
@pytest.mark.slow
def test_web_worker_and_scheduler_ride_out_a_postgresql_outage(
    tmp_path: Path, cluster: PrivateCluster
) -> None:
    """GIVEN web, worker and scheduler on a PostgreSQL cluster
    WHEN the cluster is stopped with -m immediate for about ten seconds, then started again
    THEN clients get a JSON 503 with Retry-After while it is down (never a bare HTML 500), the
    three processes are still running afterwards without a restart, the worker and scheduler
    logged what they were waiting for, nothing acknowledged before is lost, and new work
    completes."""
    d = _deployment(tmp_path / "app", database_url=cluster.url(), lease_seconds=5)
    try:
        d.start_threaded_web()
        d.start_worker()
        d.start_scheduler()
        client = Client(d, 5)
        client.run(1, time.monotonic() + 60)
        assert len(client.images) == 2
        cluster.stop("immediate")
        down_at = time.monotonic()
        answers = []
        outage = 6 if SCALE == 1 else 10
        while time.monotonic() - down_at < outage:
            answers.append(d.request("GET", "/api/referrals/", timeout=10))
            time.sleep(0.5)
        statuses = {a.status for a in answers}
        assert statuses == {503}, statuses
        assert all(a.headers.get("Retry-After") for a in answers)
        assert answers[-1].body["error"] == "database_unavailable"
        upload = d.request(
            "POST",
            f"/api/referrals/{client.referrals[0]}/lesions/1/images/",
            files={"file": ("lesion.jpg", photo(999), "image/jpeg")},
            fields={"image_type": "dermoscopic"},
        )
        assert upload.status == 503 and "saved" in upload.body["detail"]
        cluster.start()
        up_at = time.monotonic()
        wait_for(
            lambda: d.request("GET", "/api/referrals/").status == 200, 30, "the web to recover"
        )
        web_recovery = time.monotonic() - up_at
        for name in ("web", "worker", "scheduler"):
            assert d.alive(name), f"{name} exited: {d.log(name)}"
        after = Client(d, 6)
        after.run(1, time.monotonic() + 60)
        refs, images = client.referrals + after.referrals, client.images + after.images

        def processed() -> bool:
            return verify(d, refs, images)["statuses"].get("processing", 0) == 0

        wait_for(processed, 90, "the worker to carry on after the outage", every=1)
        state = verify(d, refs, images)
        assert state["missing_referrals"] == state["missing_images"] == state["missing_blobs"] == []
        assert state["statuses"] == {"ready": 4}, state
        assert "database unavailable" in d.log("worker")
        assert "database unavailable" in d.log("scheduler")
        record_result(
            "postgresql_outage",
            {
                "outage_seconds": outage,
                "requests_during_outage": len(answers) + 1,
                "answered_503": sum(a.status == 503 for a in answers) + 1,
                "web_recovery_seconds": round(web_recovery, 1),
                "processes_restarted": 0,
                "lost": 0,
            },
        )
    finally:
        d.stop_all()


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


def test_the_s3_server_stopping_mid_upload_is_a_clear_503_with_nothing_half_stored(
    world, settings, monkeypatch
) -> None:
    """GIVEN the blob store on an S3-compatible server (moto's, a real HTTP server)
    WHEN the server stops in the middle of an upload (after the request arrived, before the blob
    is written) THEN the client gets a JSON 503 saying the store is unavailable and nothing was
    saved, no image row exists; WHEN the server is back THEN the same upload is accepted."""
    moto_server = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed: no local S3-compatible server"
    )
    boto3 = pytest.importorskip("boto3")
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client as DjangoClient

    from dermbridge.imaging import storage
    from dermbridge.imaging.blobstore import S3Backend
    from dermbridge.imaging.models import LesionImage
    from dermbridge.testing import make_referral

    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="dermbridge-faults")
    settings.BLOB_BACKEND, settings.S3_BUCKET = "s3", "dermbridge-faults"
    settings.S3_ENDPOINT_URL = endpoint
    storage.blob_store.cache_clear()
    real_write = S3Backend.write
    stopped = {"done": False}

    def stop_mid_upload(self, name: str, data: bytes) -> None:
        if not stopped["done"]:
            stopped["done"] = True
            server.stop()
        real_write(self, name, data)

    try:
        referral = make_referral(world, images=False)
        client = DjangoClient(raise_request_exception=False)
        client.force_login(world.alice)
        path = f"/api/referrals/{referral.reference}/lesions/1/images/"
        data = photo(5151)

        def upload():
            file = SimpleUploadedFile("l.jpg", data, "image/jpeg")
            return client.post(path, {"image_type": "overview", "file": file})

        monkeypatch.setattr(S3Backend, "write", stop_mid_upload)
        down = upload()
        assert down.status_code == 503, down.content[:300]
        assert down.json()["error"] == "storage_unavailable" and down["Retry-After"]
        assert "Nothing you sent" in down.json()["detail"]
        assert LesionImage.objects.count() == 0
        # Back: a new server on the same address (moto keeps its objects in memory).
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        server.start()
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="dermbridge-faults")
        storage.blob_store.cache_clear()
        ok = upload()
        assert ok.status_code == 202, ok.content[:300]
        image = LesionImage.objects.get()
        assert storage.blob_store().exists(image.upload_address) or image.status == "ready"
    finally:
        storage.blob_store.cache_clear()
        server.stop()
