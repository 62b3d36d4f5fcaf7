"""Shared by the test_faults_*.py files. Fault injection with real processes and real signals (issue #10): nothing acknowledged is lost.

Each test runs DermBridge as it runs in production — a web server, task workers and a scheduler,
each its own process — over its own data directory and database, and breaks something for real:
SIGKILL to the web server mid-request or to a worker mid-task (the pipeline, a PACS send held
inside a C-STORE by a real PACS), a private PostgreSQL cluster stopped with
``pg_ctl -m immediate``, the S3 server (SeaweedFS, as ``make run-scaled`` runs it) killed
mid-upload, the blob store's disk filling up. Loopback only, bounded in time. ``make test`` runs
the fast ones; ``make bench`` runs them all with DERMBRIDGE_FAULT_SCALE=5 and writes the figures
for the README's reliability section (docs/benchmarks/faults.json).

The tests by fault kind: test_faults_web_kills.py, test_faults_workers.py (the pipeline, a PACS
send), test_faults_postgres.py (a database outage), test_faults_storage.py (a full disk, an S3
outage).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from dermbridge.core.tests.harness import (
    Deployment,
    photo,
    referral_body,
)

# make bench runs the same tests longer (DERMBRIDGE_FAULT_SCALE=5) and keeps their figures.
SCALE = max(1, int(os.environ.get("DERMBRIDGE_FAULT_SCALE", "1")))
_RESULTS_ENV = os.environ.get("DERMBRIDGE_FAULT_RESULTS", "")
RESULTS = Path(_RESULTS_ENV) if _RESULTS_ENV else None


def record_result(name: str, figures: dict[str, Any]) -> None:
    """Keep a test's figures (make bench writes them to docs/benchmarks/faults.json)."""
    print(f"\n{name}: {json.dumps(figures)}")
    if RESULTS is not None:
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data[name] = figures
        RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


class Client:
    """A capture app that retries what got no answer (or a 503) with the same Idempotency-Key,
    as a well-behaved client does, and records what the service acknowledged."""

    def __init__(self, deployment: Deployment, seed: int) -> None:
        self.d, self.seed = deployment, seed
        self.referrals: list[str] = []
        self.images: list[int] = []
        self.tried = self.unanswered = self.unavailable = 0

    def call(self, method: str, path: str, deadline: float, **kwargs: Any) -> Any:
        key = uuid.uuid4().hex
        while time.monotonic() < deadline:
            self.tried += 1
            answer = self.d.request(method, path, headers={"Idempotency-Key": key}, **kwargs)
            if answer.status == 0:
                self.unanswered += 1
            elif answer.status in (409, 503):  # still in flight, or down: retry the same key
                self.unavailable += 1
            else:
                return answer
            time.sleep(0.3 + random.random() * 0.3)
        return None

    def run(self, rounds: int, deadline: float) -> None:
        for n in range(rounds):
            seed = self.seed * 1000 + n
            made = self.call("POST", "/api/referrals/", deadline, json_body=referral_body(seed))
            if made is None:
                return
            assert made.status == 201, (made.status, made.body)
            reference = made.body["reference"]
            self.referrals.append(reference)
            for kind_n, kind in enumerate(("overview", "close_up")):
                sent = self.call(
                    "POST",
                    f"/api/referrals/{reference}/lesions/1/images/",
                    deadline,
                    files={"file": ("lesion.jpg", photo(seed * 10 + kind_n), "image/jpeg")},
                    fields={"image_type": kind},
                )
                if sent is None:
                    return
                assert sent.status == 202, (sent.status, sent.body)
                self.images.append(sent.body["id"])


def _deployment(tmp_path: Path, **kwargs: Any) -> Deployment:
    from django.db import connection

    if connection.vendor == "postgresql":
        # These bring their own database (SQLite, or a private PostgreSQL cluster): running them
        # again in the suite's PostgreSQL pass would test nothing new and cost minutes.
        pytest.skip("runs once, in the SQLite pass: it brings its own database")
    deployment = Deployment(tmp_path, **kwargs)
    deployment.setup()
    return deployment
