"""Fault injection: a private PostgreSQL cluster stopped with ``pg_ctl -m immediate`` and started.

See faults_common.py for what every fault test shares (make bench: DERMBRIDGE_FAULT_SCALE=5)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from dermbridge.core.scaled import PrivateCluster
from dermbridge.core.tests.faults_common import SCALE, Client, _deployment, record_result
from dermbridge.core.tests.harness import (
    photo,
    verify,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


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
