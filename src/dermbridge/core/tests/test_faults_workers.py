"""Fault injection: a task worker SIGKILLed mid-pipeline, and mid-PACS-send (inside a C-STORE).

See faults_common.py for what every fault test shares (make bench: DERMBRIDGE_FAULT_SCALE=5)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from dermbridge.core.tests.faults_common import SCALE, _deployment, record_result
from dermbridge.core.tests.harness import (
    Deployment,
    HeldPacs,
    photo,
    referral_body,
    verify,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


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
