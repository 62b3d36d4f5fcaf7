"""/healthz, /readyz, /metrics, the workers' heartbeat and JSON logs without patient identifiers."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dermbridge.core import health
from dermbridge.core.logging import JsonFormatter
from dermbridge.core.models import WorkerHeartbeat
from dermbridge.referrals.models import State
from dermbridge.testing import make_referral


@pytest.fixture
def database_tasks(settings):
    """Readiness as a deployment sees it: tasks go through the database queue to a worker."""
    settings.TASK_BACKEND = "database"
    settings.READY_REQUIRE_WORKER = True
    settings.TASK_LEASE_SECONDS = 60
    settings.READY_MAX_TASK_AGE_SECONDS = 600


def test_healthz_answers_without_the_database_or_an_allowed_host(client):
    # No django_db mark: any database access would raise here.
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200 and response.json() == {"status": "alive"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_names_each_check_and_is_ready_with_a_live_worker(client, database_tasks):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failed"] == ["worker"]
    assert body["checks"]["database"]["ok"] and body["checks"]["blob_store"]["ok"]
    assert "no task worker" in body["checks"]["worker"]["problem"]

    health.record_heartbeat("worker-a", "default,imaging")
    response = client.get("/readyz/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ready" and response.json()["failed"] == []


@pytest.mark.django_db
def test_readyz_fails_on_a_stale_heartbeat_and_an_old_ready_task(client, database_tasks):
    health.record_heartbeat("worker-a")
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=300))
    DBTaskResult.objects.create(
        task_path="dermbridge.core.tasks.reconcile_daily",
        args_kwargs={"args": [], "kwargs": {}},
        queue_name="default",
        backend_name="default",
        run_after=timezone.now() - timedelta(hours=2),
    )
    DBTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(hours=2))
    body = client.get("/readyz").json()
    assert body["failed"] == ["worker", "queue"]
    assert re.search(
        r"heartbeat is (29\d|30\d) s old \(lease 60 s\)", body["checks"]["worker"]["problem"]
    )
    assert "oldest ready task has waited" in body["checks"]["queue"]["problem"]


@pytest.mark.django_db
def test_readyz_fails_when_the_blob_store_cannot_be_written(client, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.BLOB_ROOT = blocker / "blobs"
    settings.READY_REQUIRE_WORKER = False
    from dermbridge.imaging import storage

    forget = getattr(storage.blob_store, "cache_clear", lambda: None)  # one store per process
    forget()
    try:
        response = client.get("/readyz")
    finally:
        forget()
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["blob_store"]
    # Named by the failure's class only: no path, no value.
    assert str(tmp_path) not in json.dumps(body)


@pytest.mark.django_db
def test_the_worker_heartbeat_thread_writes_a_heartbeat():
    from dermbridge.core.worker import LeasedWorker

    worker = LeasedWorker(
        lease_seconds=60,
        queue_names=["default", "imaging"],
        interval=1,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker-1",
        excluded_queue_names=[],
    )
    worker._recover()  # what the worker does as it starts, then on every beat
    beat = WorkerHeartbeat.objects.get(worker_id="test-worker-1")
    assert beat.queues == "default,imaging" and beat.pid > 0


def test_metrics_are_not_public(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_ADDRESSES = []
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "s3cret-token-for-scrapes"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404


@pytest.mark.django_db
def test_metrics_with_the_token_or_from_an_allowed_address(
    client, world, settings, django_capture_on_commit_callbacks
):
    from dermbridge.audit.tasks import seal_audit_chain

    settings.METRICS_TOKEN = "s3cret-token-for-scrapes"
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    with django_capture_on_commit_callbacks(execute=True):
        seal_audit_chain.enqueue()  # run inline (immediate backend) once the "commit" comes
    from dermbridge.imaging.models import LesionImage
    from dermbridge.triage.models import Assessment

    image = LesionImage.objects.filter(lesion__referral=referral).earliest("pk")
    Assessment.objects.create(image=image, model_version="test-v0", abstained=True)
    client.force_login(world.derek)
    assert client.get(f"/referrals/{referral.pk}/").status_code == 200
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-for-scrapes")
    assert response.status_code == 200
    text = response.content.decode()
    # Latency by route pattern, never the path with its id.
    assert 'route="/referrals/<int:pk>/",status_class="2xx"' in text
    assert f"/referrals/{referral.pk}/" not in text
    assert 'dermbridge_images_total{status="accepted"} 3.0' in text
    assert 'dermbridge_images_total{status="processed"} 3.0' in text
    assert 'dermbridge_outbox_messages{status="pending"}' in text
    assessed = 'dermbridge_ai_assessments_total{model_version="test-v0",outcome="abstained"} 1.0'
    assert assessed in text
    # The task ran inline: counted and timed by name.
    assert 'dermbridge_task_runs_total{status="successful",task="seal_audit_chain"} 1.0' in text
    assert (
        'dermbridge_task_duration_seconds_count{status="successful",task="seal_audit_chain"}'
        in text
    )

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_ADDRESSES = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 404


@pytest.mark.django_db
def test_metrics_queue_depth_and_age_from_the_database(client, settings, database_tasks):
    settings.METRICS_TOKEN = "t" * 24
    DBTaskResult.objects.create(
        task_path="dermbridge.core.tasks.reconcile_daily",
        args_kwargs={"args": [], "kwargs": {}},
        queue_name="imaging",
        backend_name="default",
        run_after=timezone.now() - timedelta(minutes=5),
    )
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "t" * 24).content.decode()
    assert 'dermbridge_task_queue_depth{queue="imaging"} 1.0' in text
    assert 'dermbridge_task_queue_depth{queue="triage"} 0.0' in text
    assert 'dermbridge_task_oldest_ready_age_seconds{queue="imaging"}' in text


def test_json_logs_carry_the_request_id_and_no_patient_identifiers(client, world):
    """A request carrying an NHS number (in the path and the body) and a patient's name: the log
    lines are JSON with the request id, and neither identifier appears."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    nhs_number, name = "9434765919", "Zebedee Quuxington"
    try:
        client.force_login(world.alice)
        missing = client.get(f"/api/patients/{nhs_number}/", {"name": name})
        bad = client.post(
            "/api/referrals/",
            data=json.dumps(
                {
                    "patient": {
                        "nhs_number": nhs_number,
                        "given_name": "Zebedee",
                        "family_name": "Quuxington",
                    },
                    "kind": "nonsense",
                }
            ),
            content_type="application/json",
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert missing.status_code == 404 and bad.status_code == 400
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines, "nothing was logged"
    access = [line for line in lines if line["logger"] == "dermbridge.access"]
    assert {line["request_id"] for line in access} == {missing["X-Request-ID"], bad["X-Request-ID"]}
    assert any(line.get("status") == 400 for line in access)
    for needle in (nhs_number, "943 476 5919", "Zebedee", "Quuxington"):
        assert needle not in output
