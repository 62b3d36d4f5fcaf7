"""The scheduler (`dermbridge scheduler`): queue the periodic tasks every N seconds.

The scheduler only queues; the task workers do the work, so one scheduler is enough for any
number of workers. `--once` queues one round and exits (tests, or cron instead of the loop).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, connections
from django.utils.module_loading import import_string
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

log = logging.getLogger("dermbridge.scheduler")

PERIODIC_TASKS = (
    "dermbridge.referrals.tasks.warn_near_breaches",
    "dermbridge.notifications.tasks.retry_pending_messages",
    "dermbridge.core.idempotency.purge_idempotency_keys",
    # Runs `reconcile --repair` when the last run is more than a day old (else returns at once).
    "dermbridge.core.tasks.reconcile_daily",
    # Work a crash or an outage left behind: images still processing with no task, submitted
    # referrals that never reached the worklist.
    "dermbridge.imaging.tasks.requeue_stuck_images",
    "dermbridge.referrals.tasks.requeue_stuck_submissions",
    "dermbridge.audit.tasks.seal_audit_chain",  # signed checkpoint of the audit chain (ADR 0008)
    # Photography appointment reminders, two working days before (each appointment once).
    "dermbridge.clinics.tasks.send_appointment_reminders",
    # Monitored lesions whose review date passed with no new photos: the service is told once.
    "dermbridge.lesions.tasks.tell_overdue_monitoring",
    # A hub visit's result near its target (HUB_RESULT_WORKING_DAYS): the service warned once.
    "dermbridge.clinics.tasks.warn_near_results",
)


def _already_waiting(task: Any) -> bool:
    """A copy is still queued: a stopped worker must not come back to a pile of duplicates."""
    backend = task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return False
    ready = DBTaskResult.objects.ready().filter(backend_name=backend.alias)
    return ready.filter(task_path=task.module_path).exists()


def queue_periodic_tasks() -> list[str]:
    """Queue one run of each periodic task not already waiting; the names queued."""
    queued = []
    for path in PERIODIC_TASKS:
        task = import_string(path)
        if not _already_waiting(task):
            task.enqueue()
            queued.append(task.name)
    return queued


class SchedulerCommand(BaseCommand):
    help = "Queue the periodic tasks (near-breach warnings, message retries) every N seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Queue one round and exit.")
        parser.add_argument(
            "--interval",
            type=int,
            default=None,
            help="Seconds between rounds (default: DERMBRIDGE_SCHEDULER_SECONDS).",
        )

    def handle(self, *args: Any, once: bool, interval: int | None, **options: Any) -> None:
        seconds = interval or settings.SCHEDULER_SECONDS
        if once:
            self._report(queue_periodic_tasks())
            return
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        self.stdout.write(f"Scheduler: queueing periodic tasks every {seconds}s")
        delay = 0.0
        while not stopped.is_set():
            try:
                self._report(queue_periodic_tasks())
                delay = 0.0
            except DatabaseError as exc:
                # The database is busy or away. Drop the connection (a dead one never recovers
                # by itself) and try again soon, backing off, rather than a whole round later.
                delay = min(max(delay * 2, 1.0), 60.0)
                log.warning(
                    "could not queue periodic tasks (database unavailable: %s); retrying in %.0f s",
                    exc.__class__.__name__,
                    delay,
                )
                connections.close_all()
            stopped.wait(delay or seconds)

    def _report(self, queued: list[str]) -> None:
        self.stdout.write("Queued: " + (", ".join(queued) or "nothing (all still waiting)"))
