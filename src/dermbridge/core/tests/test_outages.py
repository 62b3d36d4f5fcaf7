"""The worker and the scheduler ride out a database outage, in-process (fast siblings of
test_faults_postgres.py's PostgreSQL outage, which stops a real cluster and runs in make bench)."""

from __future__ import annotations

import logging
import signal
from typing import Any

import pytest
from django.db import OperationalError
from django_tasks_db.management.commands.db_worker import Worker

from dermbridge.core import scheduler as scheduler_module
from dermbridge.core import worker as worker_module
from dermbridge.core.scheduler import SchedulerCommand
from dermbridge.core.worker import OUTAGE_BACKOFF_START, LeasedWorker


def leased_worker() -> LeasedWorker:
    return LeasedWorker(
        lease_seconds=60,
        queue_names=["default"],
        interval=1,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="outage-worker",
        excluded_queue_names=[],
    )


def test_the_worker_waits_out_a_database_outage_with_back_off_and_carries_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN a worker whose database goes away twice WHEN its loop fails THEN it closes the
    connections, logs what it waits for, waits with doubling back-off and runs the loop again,
    without exiting."""
    runs: list[int] = []

    def flaky_run(self: Worker) -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise OperationalError("server closed the connection unexpectedly")

    closed: list[int] = []
    monkeypatch.setattr(Worker, "run", flaky_run)
    monkeypatch.setattr(worker_module.connections, "close_all", lambda: closed.append(1))
    worker = leased_worker()
    waits: list[float] = []

    def wait(delay: float) -> bool:
        waits.append(delay)
        return False  # not told to stop: try again

    monkeypatch.setattr(worker._stopped, "wait", wait)
    with caplog.at_level(logging.WARNING, logger="dermbridge.worker"):
        worker._run_riding_out_outages()
    assert len(runs) == 3, "the loop was not started again after the outage"
    assert waits == [OUTAGE_BACKOFF_START, OUTAGE_BACKOFF_START * 2]
    assert len(closed) == 2
    assert caplog.text.count("database unavailable (OperationalError") == 2


def test_a_stopped_worker_does_not_wait_for_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a worker told to stop WHEN the database then fails THEN it exits at once."""
    worker = leased_worker()

    def failing_run(self: Worker) -> None:
        self.running = False
        raise OperationalError("gone")

    monkeypatch.setattr(Worker, "run", failing_run)
    worker._run_riding_out_outages()  # returns instead of waiting


def test_the_scheduler_retries_soon_with_back_off_while_the_database_is_away(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN the scheduler's loop WHEN queueing fails twice with a database error THEN it
    drops the connections, logs, retries after 1 s then 2 s (not a whole round later), and
    once the database answers goes back to its interval; SIGTERM stops it."""
    handlers: dict[int, Any] = {}
    monkeypatch.setattr(
        scheduler_module.signal,
        "signal",
        lambda signum, handler: handlers.update({signum: handler}),
    )
    calls: list[int] = []

    def queue_periodic_tasks() -> list[str]:
        calls.append(1)
        if len(calls) <= 2:
            raise OperationalError("the database system is starting up")
        handlers[signal.SIGTERM](signal.SIGTERM, None)  # the service manager stops it
        return ["warn_near_breaches"]

    closed: list[int] = []
    monkeypatch.setattr(scheduler_module, "queue_periodic_tasks", queue_periodic_tasks)
    monkeypatch.setattr(scheduler_module.connections, "close_all", lambda: closed.append(1))
    waits: list[float] = []
    real_event = scheduler_module.threading.Event

    class RecordingEvent(real_event):  # type: ignore[misc,valid-type]
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(float(timeout or 0))
            return self.is_set()

    monkeypatch.setattr(scheduler_module.threading, "Event", RecordingEvent)
    command = SchedulerCommand()
    with caplog.at_level(logging.WARNING, logger="dermbridge.scheduler"):
        command.handle(once=False, interval=60)
    assert len(calls) == 3
    assert waits == [1.0, 2.0, 60.0]
    assert len(closed) == 2
    assert caplog.text.count("database unavailable: OperationalError") == 2
