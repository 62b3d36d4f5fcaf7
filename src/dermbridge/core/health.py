"""Liveness and readiness for load balancers, orchestrators and monitoring (docs/deploy.md).

* `/healthz`: the process answers. No database, no blob store: a liveness probe that fails only
  when the process itself is stuck, so an outage elsewhere never gets healthy processes killed.
* `/readyz`: this process can do useful work: the database answers and has every migration,
  a blob round trip (write, read back, delete a random probe) works, a task worker has beaten
  within a lease, and the oldest READY task is younger than READY_MAX_TASK_AGE_SECONDS.
  200 when all pass, 503 naming what failed. Counts and ages only: never patient data.

Both are answered by `dermbridge.core.observability.ObservabilityMiddleware` before any other
middleware (no session, no host check: a kubelet probes by pod address).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Max, Min
from django.db.models.functions import Now
from django.http import HttpRequest, JsonResponse

from dermbridge.core.models import WorkerHeartbeat

# Heartbeats older than this are removed by the next beat of any worker.
HEARTBEAT_KEEP = timedelta(days=1)

_migrated = False  # once true, stays true for this process (migrations only move forward)


def record_heartbeat(worker_id: str, queues: str = "") -> None:
    """Called by each worker's lease heartbeat thread (dermbridge.core.worker), on the database clock."""
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id[:64],
        defaults={
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "queues": queues[:200],
            "beat_at": Now(),
        },
        create_defaults={
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "queues": queues[:200],
            "beat_at": Now(),
            "started_at": Now(),
        },
    )
    WorkerHeartbeat.objects.filter(beat_at__lt=Now() - HEARTBEAT_KEEP).delete()


def _db_seconds_since(moment: Any) -> float | None:
    """Seconds from `moment` to now on the database's clock (None when there is no moment)."""
    if moment is None:
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT CURRENT_TIMESTAMP")
        now = cur.fetchone()[0]
    if isinstance(now, str):  # SQLite answers text, in UTC
        from datetime import UTC, datetime

        now = datetime.fromisoformat(now).replace(tzinfo=UTC)
    elif now.tzinfo is None:
        from datetime import UTC

        now = now.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds())


def check_database() -> dict[str, Any]:
    global _migrated
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    if not _migrated:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return {"ok": False, "problem": f"{len(pending)} migrations not applied"}
        _migrated = True
    return {"ok": True}


def check_blob_store() -> dict[str, Any]:
    from dermbridge.imaging.storage import blob_store

    store = blob_store()
    probe = b"dermbridge readiness probe " + secrets.token_bytes(16)
    address = store.put(probe)
    try:
        if store.get(address) != probe:
            return {"ok": False, "problem": "the blob read back differs from the blob written"}
    finally:
        store.delete(address)
    return {"ok": True}


def check_worker() -> dict[str, Any]:
    if settings.TASK_BACKEND != "database" or not settings.READY_REQUIRE_WORKER:
        return {"ok": True, "skipped": "no worker required"}
    newest = WorkerHeartbeat.objects.aggregate(newest=Max("beat_at"))["newest"]
    age = _db_seconds_since(newest)
    lease = float(settings.TASK_LEASE_SECONDS)
    if age is None:
        return {"ok": False, "problem": "no task worker has ever reported"}
    if age > lease:
        return {
            "ok": False,
            "problem": f"the newest worker heartbeat is {age:.0f} s old (lease {lease:.0f} s)",
            "age_seconds": round(age, 1),
        }
    return {"ok": True, "age_seconds": round(age, 1)}


def oldest_ready_task_age() -> float | None:
    from django_tasks_db.models import DBTaskResult

    oldest = DBTaskResult.objects.ready().aggregate(oldest=Min("enqueued_at"))["oldest"]
    return _db_seconds_since(oldest)


def check_queue() -> dict[str, Any]:
    if settings.TASK_BACKEND != "database":
        return {"ok": True, "skipped": "tasks run inline"}
    age = oldest_ready_task_age()
    limit = settings.READY_MAX_TASK_AGE_SECONDS
    if age is not None and age > limit:
        return {
            "ok": False,
            "problem": f"the oldest ready task has waited {age:.0f} s (limit {limit} s)",
            "oldest_ready_age_seconds": round(age, 1),
        }
    return {"ok": True, "oldest_ready_age_seconds": None if age is None else round(age, 1)}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "blob_store": check_blob_store,
    "worker": check_worker,
    "queue": check_queue,
}


def readiness() -> tuple[bool, dict[str, Any]]:
    """Run every check; (all passed, the JSON body). A check that raises fails with its class
    name only (an exception message could carry a path or a value)."""
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        if name in {"worker", "queue"} and not results["database"]["ok"]:
            results[name] = {"ok": False, "problem": "database unavailable"}
            continue
        try:
            result = check()
        except Exception as exc:  # reported by its class name only
            result = {"ok": False, "problem": f"{type(exc).__name__}"}
            if isinstance(exc, DatabaseError):
                connection.close_if_unusable_or_obsolete()
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    failed = [name for name, r in results.items() if not r["ok"]]
    return not failed, {
        "status": "ready" if not failed else "unavailable",
        "failed": failed,
        "checks": results,
    }


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"}, headers={"Cache-Control": "no-store"})


def readyz(request: HttpRequest) -> JsonResponse:
    ok, body = readiness()
    return JsonResponse(body, status=200 if ok else 503, headers={"Cache-Control": "no-store"})
