"""Background work survives a worker killed mid-task (dermbridge.worker: the task lease)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dermbridge.notifications.tasks import retry_pending_messages
from dermbridge.worker import MAX_CLAIMS, WORKER_LOST, extend_lease, requeue_abandoned

DATABASE_TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "notifications"],
    }
}
LEASE = 300


# ---------------------------------------------------------------- the lease rules


def running_task(*, workers: int = 1, started_ago: float, lease_left: float) -> DBTaskResult:
    """A task a worker claimed `started_ago` seconds ago, whose lease ends in `lease_left`."""
    with override_settings(TASKS=DATABASE_TASKS):
        result = retry_pending_messages.enqueue()
    row = DBTaskResult.objects.get(pk=result.id)
    for n in range(workers):
        row.claim(f"worker-{n}")
    now = timezone.now()
    DBTaskResult.objects.filter(pk=row.pk).update(
        started_at=now - timedelta(seconds=started_ago),
        run_after=now + timedelta(seconds=lease_left),
    )
    return DBTaskResult.objects.get(pk=row.pk)


@pytest.mark.django_db
def test_it_puts_a_task_whose_lease_ran_out_back_to_ready() -> None:
    """GIVEN a running task whose worker stopped renewing its lease a second ago
    WHEN any worker checks THEN the task is READY again, to be taken by another worker."""
    row = running_task(started_ago=LEASE + 60, lease_left=-1)
    assert requeue_abandoned("default", LEASE) == (1, 0)
    row.refresh_from_db()
    assert row.status == "READY"
    assert DBTaskResult.objects.ready().filter(pk=row.pk).exists()


@pytest.mark.django_db
def test_it_leaves_a_task_with_a_live_lease_alone() -> None:
    """GIVEN a long-running task whose worker keeps renewing its lease THEN it keeps running."""
    row = running_task(started_ago=LEASE * 10, lease_left=LEASE / 2)
    assert requeue_abandoned("default", LEASE) == (0, 0)
    row.refresh_from_db()
    assert row.status == "RUNNING"


@pytest.mark.django_db
def test_it_leaves_a_task_claimed_a_moment_ago_alone() -> None:
    """GIVEN a task claimed a moment ago whose run_after is still the old enqueue time
    THEN it is not taken from its worker before that worker's first lease."""
    row = running_task(started_ago=1, lease_left=-3600)
    assert requeue_abandoned("default", LEASE) == (0, 0)
    row.refresh_from_db()
    assert row.status == "RUNNING"


@pytest.mark.django_db
def test_it_fails_a_task_that_keeps_losing_its_workers() -> None:
    """GIVEN a task whose MAX_CLAIMS workers all died while running it
    THEN it is failed (visibly, as WorkerLost) instead of killing a sixth worker."""
    row = running_task(workers=MAX_CLAIMS, started_ago=LEASE + 60, lease_left=-1)
    assert requeue_abandoned("default", LEASE) == (0, 1)
    row.refresh_from_db()
    assert row.status == "FAILED"
    assert row.exception_class_path == WORKER_LOST
    with override_settings(TASKS=DATABASE_TASKS):
        assert row.task_result.errors[0].exception_class_path == WORKER_LOST


@pytest.mark.django_db
def test_it_renews_the_lease_only_of_a_running_task() -> None:
    row = running_task(started_ago=LEASE + 60, lease_left=1)
    assert extend_lease(row.pk, LEASE)
    row.refresh_from_db()
    assert row.run_after > timezone.now() + timedelta(seconds=LEASE - 5)
    DBTaskResult.objects.filter(pk=row.pk).update(status="SUCCESSFUL")
    assert not extend_lease(row.pk, LEASE)


# ---------------------------------------------------------------- a real SIGKILL


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db, timeout=20) as conn:
        return list(conn.execute(sql, params))


SEED = (
    "from dermbridge.notifications.models import OutboxMessage\n"
    "from dermbridge.notifications.tests.worker_tasks import send_when_released\n"
    "m = OutboxMessage.objects.create(channel='sms', recipient='07700900123', "
    "body='Your referral has been sent', event='lease-test', dedupe_key='lease-test')\n"
    "result = send_when_released.enqueue(m.pk, GATE)\n"
)


@pytest.fixture
def worker_database(
    tmp_path: Path, django_db_setup: None, django_db_blocker: Any
) -> tuple[Path, dict[str, str], str]:
    """A file SQLite database with the project's schema and one queued task that sends a text
    message once released; the environment for processes that use it with the database task
    backend and a 2-second lease; and the task's id."""
    db = tmp_path / "dermbridge.sqlite3"
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dermbridge.test_settings",
        "DERMBRIDGE_DATA_DIR": str(tmp_path),
        "DERMBRIDGE_DATABASE_URL": f"sqlite:///{db}",
        "DERMBRIDGE_TASK_BACKEND": "database",
        "DERMBRIDGE_TASK_LEASE_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    seed = SEED.replace("GATE", repr(str(gate)))
    with django_db_blocker.unblock():
        connection.ensure_connection()
        source = connection.connection
        if connection.vendor == "sqlite" and isinstance(source, sqlite3.Connection):
            # Copy the migrated test database with the task in it (migrating takes seconds),
            # then take the task out of the test database again.
            scope: dict[str, Any] = {}
            try:
                with override_settings(TASKS=DATABASE_TASKS):
                    exec(seed, scope)  # noqa: S102 - the fixed SEED text above
                with sqlite3.connect(db) as target:
                    source.backup(target)
            finally:
                if "result" in scope:
                    DBTaskResult.objects.filter(pk=scope["result"].id).delete()
                if "m" in scope:
                    scope["m"].delete()
            return db, env, str(scope["result"].id).replace("-", "")
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v0"], env=env, check=True, timeout=300
    )
    out = subprocess.run(
        [sys.executable, "-m", "django", "shell", "-v0", "-c", seed + "print(result.id)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return db, env, out.strip().splitlines()[-1].replace("-", "")


def start_worker(env: dict[str, str], worker_id: str, log_dir: Path) -> subprocess.Popen[bytes]:
    log = (log_dir / f"{worker_id}.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django",
            "worker",
            "--queue-name",
            "*",
            "--interval",
            "0.1",
            "--no-startup-delay",
            "--no-reload",
            "--worker-id",
            worker_id,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_it_runs_a_killed_workers_task_again_exactly_once(
    worker_database: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    """GIVEN two workers, one running a task that sends a text message
    WHEN the task runs longer than the lease THEN the other worker leaves it alone;
    WHEN its worker is then killed with SIGKILL before the task finishes
    THEN the other worker takes the task once the lease runs out, and the text is sent once."""
    db, env, task_id = worker_database
    gate = tmp_path / "gate"
    task_sql = "SELECT status, worker_ids FROM django_tasks_database_dbtaskresult WHERE id = ?"
    workers = {name: start_worker(env, name, tmp_path) for name in ("one", "two")}
    try:
        wait_for(lambda: list(gate.glob("started-*")), 30, "a worker to start the task")
        (claimer,) = json.loads(query(db, task_sql, task_id)[0][1])
        time.sleep(2.5)  # longer than the 2-second lease: a live worker keeps renewing it
        assert query(db, task_sql, task_id)[0] == ("RUNNING", json.dumps([claimer]))

        os.kill(workers[claimer].pid, signal.SIGKILL)
        workers[claimer].wait(timeout=10)
        assert query(db, task_sql, task_id)[0][0] == "RUNNING"  # the django-tasks #46 state
        (gate / "release").touch()
        wait_for(
            lambda: query(db, task_sql, task_id)[0][0] == "SUCCESSFUL",
            30,
            "the other worker to take the task over and finish it",
        )
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)

    other = "two" if claimer == "one" else "one"
    status, worker_ids = query(db, task_sql, task_id)[0]
    assert status == "SUCCESSFUL"
    assert json.loads(worker_ids) == [claimer, other]
    assert len(list(gate.glob("started-*"))) == 2
    sms = (tmp_path / "sms.log").read_text().splitlines()
    assert [json.loads(line)["to"] for line in sms] == ["07700900123"]
    outbox = query(db, "SELECT status, attempts FROM notifications_outboxmessage")
    assert outbox == [("sent", 1)]
