"""Prometheus metrics (docs/deploy.md, "Health and metrics").

Two kinds, so that several web processes, workers and hosts give one true picture:

* **Counted in the process** (prometheus-client): request latency by route (the URL pattern,
  never the path: a path can hold a reference), task duration and outcome by task name (from
  django-tasks' signals, in the worker). With several processes on a host set
  `PROMETHEUS_MULTIPROC_DIR` to an empty directory (wiped at service start) for every process
  of the host: the client's multiprocess mode then sums them at scrape time.
* **Read from the database at scrape time** (`DatabaseCollector`), the same whichever process
  is scraped: queue depth and the oldest ready task's age per queue, images accepted, rejected
  and processed, AI assessments and abstentions, outbox backlog and failures, the newest worker
  heartbeat's age. Counts only, no identifiers.

`/metrics` is not public: it answers only when `DERMBRIDGE_METRICS_TOKEN` is set and the request
carries `Authorization: Bearer <token>`, or comes from an address in
`DERMBRIDGE_METRICS_ALLOWED_ADDRESSES`; otherwise 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django_tasks.signals import task_finished, task_started
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

REQUEST_LATENCY = Histogram(
    "dermbridge_http_request_duration_seconds",
    "Time to answer a request, by route (URL pattern) and method.",
    ["route", "method", "status_class"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TASK_DURATION = Histogram(
    "dermbridge_task_duration_seconds",
    "Time a background task ran, by task and outcome.",
    ["task", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
TASK_RUNS = Counter(
    "dermbridge_task_runs",
    "Background task runs finished, by task and outcome.",
    ["task", "status"],
)

_task_started_at: dict[Any, float] = {}


@receiver(task_started)
def _on_task_started(sender: Any, task_result: Any, **kwargs: Any) -> None:
    _task_started_at[task_result.id] = time.perf_counter()


@receiver(task_finished)
def _on_task_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
    began = _task_started_at.pop(task_result.id, None)
    name = task_result.task.name
    status = str(getattr(task_result.status, "value", task_result.status)).lower()
    TASK_RUNS.labels(name, status).inc()
    if began is not None:
        TASK_DURATION.labels(name, status).observe(time.perf_counter() - began)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(route, method, f"{status // 100}xx").observe(seconds)


class DatabaseCollector(Collector):
    """Gauges and totals read from the database when scraped (one query per family)."""

    def collect(self) -> Iterator[Any]:
        from django.db.models import Count, Min, Q

        from dermbridge.core.health import _db_seconds_since
        from dermbridge.imaging.models import ImageStatus, LesionImage
        from dermbridge.notifications.models import OutboxMessage, OutboxStatus
        from dermbridge.triage.models import Assessment

        images = CounterMetricFamily(
            "dermbridge_images",
            "Photos accepted (every upload), by what became of them so far.",
            labels=["status"],
        )
        by_status = dict(
            LesionImage.objects.values("status").annotate(n=Count("id")).values_list("status", "n")
        )
        images.add_metric(["accepted"], sum(by_status.values()))
        images.add_metric(["processed"], by_status.get(ImageStatus.READY, 0))
        images.add_metric(["rejected"], by_status.get(ImageStatus.FAILED, 0))
        images.add_metric(["processing"], by_status.get(ImageStatus.PROCESSING, 0))
        yield images

        ai = CounterMetricFamily(
            "dermbridge_ai_assessments",
            "AI assessments made, by model version and whether the model abstained.",
            labels=["model_version", "outcome"],
        )
        for version, abstained, n in (
            Assessment.objects.values("model_version", "abstained")
            .annotate(n=Count("id"))
            .values_list("model_version", "abstained", "n")
        ):
            ai.add_metric([version, "abstained" if abstained else "assessed"], n)
        yield ai

        outbox = GaugeMetricFamily(
            "dermbridge_outbox_messages",
            "Messages to patients and GPs in the outbox: pending (the backlog) and failed.",
            labels=["status"],
        )
        counts = OutboxMessage.objects.aggregate(
            pending=Count("id", filter=Q(status=OutboxStatus.PENDING)),
            failed=Count("id", filter=Q(status=OutboxStatus.FAILED)),
        )
        for status in ("pending", "failed"):
            outbox.add_metric([status], counts[status])
        yield outbox

        if settings.TASK_BACKEND == "database":
            from django_tasks_db.models import DBTaskResult

            depth = GaugeMetricFamily(
                "dermbridge_task_queue_depth", "Tasks ready to run, by queue.", labels=["queue"]
            )
            age = GaugeMetricFamily(
                "dermbridge_task_oldest_ready_age_seconds",
                "How long the oldest ready task has waited, by queue.",
                labels=["queue"],
            )
            rows = (
                DBTaskResult.objects.ready()
                .values("queue_name")
                .annotate(n=Count("id"), oldest=Min("enqueued_at"))
            )
            seen = set()
            for row in rows:
                seen.add(row["queue_name"])
                depth.add_metric([row["queue_name"]], row["n"])
                age.add_metric([row["queue_name"]], _db_seconds_since(row["oldest"]) or 0.0)
            queues: list[str] = settings.TASKS["default"]["QUEUES"]  # type: ignore[index,assignment]
            for queue in queues:
                if queue not in seen:
                    depth.add_metric([queue], 0)
                    age.add_metric([queue], 0.0)
            yield depth
            yield age
            failed = CounterMetricFamily(
                "dermbridge_tasks_failed",
                "Tasks that failed for good (kept in the task table), by task.",
                labels=["task"],
            )
            for path, n in (
                DBTaskResult.objects.filter(status="FAILED")
                .values("task_path")
                .annotate(n=Count("id"))
                .values_list("task_path", "n")
            ):
                failed.add_metric([path.rsplit(".", 1)[-1]], n)
            yield failed

        from django.db.models import Max

        from dermbridge.core.models import WorkerHeartbeat

        newest = WorkerHeartbeat.objects.aggregate(newest=Max("beat_at"))["newest"]
        heartbeat = GaugeMetricFamily(
            "dermbridge_worker_heartbeat_age_seconds",
            "Age of the newest task worker heartbeat (absent when no worker ever reported).",
        )
        seconds = _db_seconds_since(newest)
        if seconds is not None:
            heartbeat.add_metric([], seconds)
        yield heartbeat


def registry() -> CollectorRegistry:
    """The registry to expose: this process's (or, in multiprocess mode, the host's), plus the
    database collector."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)  # type: ignore[no-untyped-call]
    else:
        reg = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):  # the process's own metrics
            reg.register(collector)
    reg.register(DatabaseCollector())
    return reg


def allowed(request: HttpRequest) -> bool:
    """A bearer token equal to METRICS_TOKEN, or a client address in METRICS_ALLOWED_ADDRESSES
    (addresses or networks). Neither configured: nobody."""
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    offered = header.removeprefix("Bearer ").strip().encode()
    if token and header.startswith("Bearer ") and hmac.compare_digest(offered, token.encode()):
        return True
    if settings.METRICS_ALLOWED_ADDRESSES:
        try:
            client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        for entry in settings.METRICS_ALLOWED_ADDRESSES:
            try:
                if client in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        return HttpResponseNotFound(b"Not found.", content_type="text/plain")
    body = generate_latest(registry())
    return HttpResponse(
        body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )
