"""Rows of project-wide infrastructure: the idempotency keys of retried and double-sent requests."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class KeyState(models.TextChoices):
    IN_FLIGHT = "in_flight", "In flight"
    DONE = "done", "Done"


class KeyKind(models.TextChoices):
    API = "api", "Idempotency-Key header (REST API, FHIR)"
    FORM = "form", "One-time form token (web pages)"


class IdempotencyKey(models.Model):
    """One client-chosen key of one user: claimed before the view runs, its answer kept after.

    The same key with the same request (fingerprint) replays `status_code`, `response_headers`
    and `response_body`; kept `IDEMPOTENCY_KEY_HOURS` (at least 24) from `created_at`, then
    purged by the periodic task `dermbridge.core.idempotency.purge_idempotency_keys`.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=300)
    kind = models.CharField(max_length=8, choices=KeyKind.choices, default=KeyKind.API)
    method = models.CharField(max_length=10)
    path = models.TextField()
    # sha256 of method, path and body (a multipart boundary left out): same key, other request.
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=KeyState.choices, default=KeyState.IN_FLIGHT)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When the request holding the key started; a claim this old is taken over (its process died).
    locked_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(default=b"", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="core_idempotency_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] {self.state}"


class WorkerHeartbeat(models.Model):
    """The last sign of life of one task worker, written by its lease heartbeat thread
    (dermbridge.core.worker) every third of a lease; `/readyz` wants one younger than a lease."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)
    queues = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    beat_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"worker {self.worker_id} on {self.host} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
