"""Task leases for the database task worker, so background work survives a worker killed mid-task.

django-tasks-db 0.13.0 claims a task by marking it RUNNING and never looks at it again: a worker
killed by SIGKILL, the out-of-memory killer or a power cut leaves the task RUNNING for ever and
nobody runs it (django-tasks issue #46). `dermbridge worker` is `db_worker` with a lease:

- while a task runs, a heartbeat thread renews its lease every third of TASK_LEASE_SECONDS;
- every worker, on the same beat, puts back to READY any RUNNING task whose lease has run out,
  so another worker (or the same one, restarted) takes it again;
- a task that has lost MAX_CLAIMS workers is marked failed instead (it is probably what kills
  them) and is visible as failed with the exception path WORKER_LOST.

The lease's end is kept in the task row's `run_after` column. The backend reads `run_after` only
to decide when a READY task may start; for a RUNNING task it means nothing, and "may be run
(again) after" is exactly what a lease end is. This needs no table of our own and no change to
the library's schema. Do not run plain `db_worker` beside `dermbridge worker` on the same
database: its tasks have no lease and would be taken again once they are older than a lease.

Running a task again is safe because every DermBridge task is idempotent: it takes ids, checks
state, and what it produces has a unique key. A task whose worker died after its side effect
but before recording success may therefore run its side effect twice only where that effect
is outside the database (an email handed to the relay just before the worker died).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

# The logger's and WORKER_LOST's names predate the move to core (issue #11) and are kept: the
# first is what operators filter logs on, the second is stored in failed tasks' rows.
log = logging.getLogger("dermbridge.worker")

RUNNING = "RUNNING"
READY = "READY"
FAILED = "FAILED"
# A task that has been claimed this many times without finishing is failed, not retried.
MAX_CLAIMS = 5
WORKER_LOST = "dermbridge.worker.WorkerLost"
# Abandoned tasks put back per beat (the rest wait for the next beat).
REQUEUE_BATCH = 100
# Waits between attempts to reach a database that has gone away (doubling up to the maximum).
OUTAGE_BACKOFF_START = 1.0
OUTAGE_BACKOFF_MAX = 30.0


def _db_now() -> Any:
    """The database's clock, as an expression: leases are compared on one clock, whatever the
    clocks of the hosts the workers run on say."""
    return Now()


def extend_lease(task_id: Any, lease_seconds: float, worker_id: str | None = None) -> bool:
    """Renew the lease of a task this worker is running. False if it is no longer running, or
    no longer this worker's (its lease ran out and another worker claimed it since): a worker
    must never keep alive a lease it lost."""
    with transaction.atomic(using=DBTaskResult.objects.db):
        row = (
            DBTaskResult.objects.select_for_update()
            .filter(pk=task_id, status=RUNNING)
            .values_list("worker_ids", flat=True)
            .first()
        )
        if row is None:
            return False
        if worker_id is not None and (not row or row[-1] != worker_id):
            return False
        renewed = DBTaskResult.objects.filter(pk=task_id, status=RUNNING).update(
            run_after=_db_now() + timedelta(seconds=lease_seconds)
        )
    return renewed == 1


def requeue_abandoned(
    backend_name: str, lease_seconds: float, now: datetime | None = None
) -> tuple[int, int]:
    """Put RUNNING tasks whose lease ran out back to READY. Returns (requeued, failed).

    A task is abandoned when its lease end (`run_after`) has passed and it started more than a
    lease ago; the second test covers the moment between a claim and its first lease.
    """
    # The database's clock unless a test pins one: a host whose clock runs fast cannot take
    # another host's task early.
    clock: Any = now if now is not None else _db_now()
    now = now or timezone.now()
    started_before = clock - timedelta(seconds=lease_seconds)
    requeued = failed = 0
    with exclusive_transaction(DBTaskResult.objects.db):
        abandoned = list(
            DBTaskResult.objects.select_for_update(skip_locked=True)
            .filter(
                backend_name=backend_name,
                status=RUNNING,
                run_after__lt=clock,
                started_at__lt=started_before,
            )
            .order_by("started_at")[:REQUEUE_BATCH]
        )
        for row in abandoned:
            if len(row.worker_ids) >= MAX_CLAIMS:
                row.status, row.finished_at = FAILED, now
                row.exception_class_path = WORKER_LOST
                row.traceback = (
                    f"{WORKER_LOST}: {len(row.worker_ids)} workers stopped renewing their lease "
                    f"while running this task ({', '.join(row.worker_ids)}); not run again.\n"
                )
                row.save(
                    update_fields=["status", "finished_at", "exception_class_path", "traceback"]
                )
                failed += 1
                log.error(
                    "task %s (%s) failed: its workers died %s times",
                    row.pk,
                    row.task_path,
                    len(row.worker_ids),
                )
            else:
                row.status, row.run_after = READY, now
                row.save(update_fields=["status", "run_after"])
                requeued += 1
                log.warning(
                    "task %s (%s) put back to READY: worker %s stopped renewing its lease",
                    row.pk,
                    row.task_path,
                    (row.worker_ids or ["?"])[-1],
                )
    return requeued, failed


class LeasedWorker(Worker):
    """The django-tasks-db worker with a heartbeat lease on the task it runs."""

    def __init__(self, *, lease_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lease_seconds = lease_seconds
        self._current_task_id: Any = None
        self._stopped = threading.Event()

    def run(self) -> None:
        self._recover()
        beat = threading.Thread(target=self._beat, name="task-lease", daemon=True)
        beat.start()
        try:
            self._run_riding_out_outages()
        finally:
            self._stopped.set()
            beat.join(timeout=5)

    def _run_riding_out_outages(self) -> None:
        """db_worker's loop, started again with back-off when the database goes away (a
        restart, a fail-over, a network cut) instead of exiting: a worker that has stopped
        is a queue that silently stops draining."""
        delay = OUTAGE_BACKOFF_START
        while True:
            started = time.monotonic()
            try:
                super().run()
                return
            except (OperationalError, InterfaceError) as exc:
                if not self.running:
                    return
                if time.monotonic() - started > OUTAGE_BACKOFF_MAX * 2:
                    delay = OUTAGE_BACKOFF_START  # it had been running well: a new outage
                log.warning(
                    "worker %s: database unavailable (%s: %s); retrying in %.0f s",
                    self.worker_id,
                    type(exc).__name__,
                    str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "",
                    delay,
                )
                self.running_task = False
                self._current_task_id = None
                connections.close_all()
                if self._stopped.wait(delay):
                    return
                delay = min(delay * 2, OUTAGE_BACKOFF_MAX)

    def run_task(self, db_task_result: DBTaskResult) -> None:
        # Take the lease before the task starts, in this thread, so there is no window in
        # which a claimed task has no lease end after its start.
        self._current_task_id = db_task_result.pk
        try:
            extend_lease(db_task_result.pk, self.lease_seconds, self.worker_id)
        except DatabaseError as exc:
            log.warning(
                "could not take the lease of task %s: %s", db_task_result.pk, exc.__class__.__name__
            )
        try:
            super().run_task(db_task_result)
        finally:
            self._current_task_id = None

    def _recover(self) -> None:
        try:
            self._heartbeat()
            requeue_abandoned(self.backend_name, self.lease_seconds)
        except DatabaseError as exc:
            # A busy SQLite file or a lost connection: the next beat tries again.
            log.warning("could not check for abandoned tasks: %s", exc.__class__.__name__)

    def _heartbeat(self) -> None:
        """This worker's sign of life for /readyz and the metrics (dermbridge.core.health)."""
        from dermbridge.core.health import record_heartbeat

        record_heartbeat(self.worker_id, ",".join(self.queue_names))

    def _beat(self) -> None:
        """Renew the running task's lease and recover abandoned tasks, every third of a lease."""
        try:
            while not self._stopped.wait(self.lease_seconds / 3):
                task_id = self._current_task_id
                try:
                    self._heartbeat()
                    if (
                        task_id is not None
                        and not extend_lease(task_id, self.lease_seconds, self.worker_id)
                        and self._current_task_id == task_id
                        and DBTaskResult.objects.filter(pk=task_id, status=RUNNING).exists()
                    ):
                        # Still ours to run, still running, yet another worker holds it now.
                        # (A task that simply finished between the two reads is not news.)
                        log.warning(
                            "task %s: lease lost (another worker may be running it)", task_id
                        )
                    requeue_abandoned(self.backend_name, self.lease_seconds)
                except (OperationalError, InterfaceError) as exc:
                    log.warning(
                        "task lease heartbeat: database unavailable (%s)", type(exc).__name__
                    )
                    connections.close_all()
                except Exception:
                    # Never let the heartbeat die while its worker lives: the lease would lapse
                    # and another worker would run the task a second time. A busy SQLite file
                    # or a lost connection is retried on the next beat.
                    log.exception("task lease heartbeat failed (task %s)", task_id)
        finally:
            connections.close_all()


class WorkerCommand(DbWorkerCommand):
    """`dermbridge worker`: db_worker's options, plus --lease-seconds."""

    help = "Run a database task worker whose tasks are run again if the worker dies mid-task."

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--lease-seconds",
            type=float,
            default=None,
            help="Lease after which a dead worker's task runs again "
            "(default: DERMBRIDGE_TASK_LEASE_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.configure_logging(options["verbosity"])
        lease = options["lease_seconds"] or float(settings.TASK_LEASE_SECONDS)
        if lease <= 0:
            raise CommandError("--lease-seconds must be more than 0.")
        queue_names = options["queue_name"].split(",")
        excluded = options["exclude_queues"].split(",") if options["exclude_queues"] else []
        if excluded and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name='*'.")
        worker = LeasedWorker(
            lease_seconds=lease,
            queue_names=queue_names,
            interval=options["interval"],
            batch=options["batch"],
            backend_name=options["backend_name"],
            startup_delay=options["startup_delay"],
            max_tasks=options["max_tasks"],
            worker_id=options["worker_id"],
            excluded_queue_names=excluded,
        )
        log.info("worker %s: lease %ss", options["worker_id"], lease)
        if options["reload"] and not options["batch"]:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
                worker.configure_signals()
            run_with_reloader(worker.run)
        else:
            worker.configure_signals()
            worker.run()
