"""Fault injection: the web server SIGKILLed again and again while clients create and upload.

See faults_common.py for what every fault test shares (make bench: DERMBRIDGE_FAULT_SCALE=5)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from dermbridge.core.tests.faults_common import SCALE, Client, _deployment, record_result
from dermbridge.core.tests.harness import (
    verify,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


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
