"""Benchmark: the worklist and referral page at 100,000 referrals, and API submission throughput.

Run by `make bench` (marked `bench`; skipped without PostgreSQL, where the scale claim matters).
Timings are reported as ratios against a baseline measured in the same run — a primary-key
lookup for queries, and the bare encrypt-and-store of the same bytes for submissions — because
these machines are shared and noisy. Results go to docs/benchmarks/referrals.json.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dermbridge.accounts.models import Organisation, OrganisationKind
from dermbridge.imaging.storage import blob_store
from dermbridge.patients.models import Patient
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.testing import nhs_number_for

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]
N_REFERRALS = 100_000
N_SERVICES = 20
OUT = Path(settings.REPO_DIR) / "docs" / "benchmarks" / "referrals.json"


def _timings(fn: Callable[[], object], n: int) -> dict[str, float]:
    for _ in range(5):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(0.95 * len(samples)) - 1], 3),
    }


def _populate(world) -> Organisation:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    services = [world.service] + [
        Organisation.objects.create(
            kind=OrganisationKind.DERMATOLOGY_SERVICE, name=f"Service {i}", ods_code=f"RS{i:03d}"
        )
        for i in range(1, N_SERVICES)
    ]
    numbers = sorted({nhs_number_for(500_000 + i) for i in range(11_000)})[:10_000]
    patients = Patient.objects.bulk_create(
        [
            Patient(
                nhs_number=numbers[i],
                given_name="Bench",
                family_name=f"P{i}",
                date_of_birth=date(1950, 1, 1) + timedelta(days=i),
                registered_practice=world.practice_a,
            )
            for i in range(10_000)
        ],
        batch_size=5000,
    )
    states = (
        [State.CLOSED] * 70
        + [State.AWAITING_REVIEW] * 12
        + [State.IN_REVIEW] * 3
        + [State.TRIAGED] * 8
        + [State.ADVICE_GIVEN] * 4
        + [State.DRAFT] * 3
    )
    now = timezone.now()
    batch = []
    for i in range(N_REFERRALS):
        kind = rng.choice(
            [ReferralKind.TRIAGE] * 5 + [ReferralKind.URGENT_CANCER] * 3 + [ReferralKind.ADVICE] * 2
        )
        submitted = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        risk = rng.random() if rng.random() < 0.6 else None
        batch.append(
            Referral(
                reference=f"DB-B{i:06d}",
                kind=kind,
                state=rng.choice(states),
                patient=patients[i % len(patients)],
                referring_org=world.practice_a,
                referrer=world.alice,
                service=services[i % N_SERVICES],
                priority_rank=0 if kind == ReferralKind.URGENT_CANCER else 1,
                ai_risk=risk,
                ai_sort=-1.0 if risk is None else risk,
                submitted_at=submitted,
                due_at=submitted + timedelta(days=rng.randint(2, 28)),
            )
        )
        if len(batch) == 10_000:
            Referral.objects.bulk_create(batch)
            batch = []
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return world.service


def test_bench_worklist_and_detail_at_scale(world, client) -> None:  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.skip("the 100,000-referral benchmark runs on PostgreSQL (make bench sets it up)")
    t0 = time.perf_counter()
    service = _populate(world)
    populate_s = time.perf_counter() - t0
    assert Referral.objects.count() >= N_REFERRALS
    in_worklist = Referral.objects.worklist(service.pk).count()

    def worklist(page: int) -> Callable[[], object]:
        return lambda: list(Referral.objects.worklist(service.pk).select_related("patient")[:page])

    sample_pk = Referral.objects.filter(service=service).values_list("pk", flat=True)[500]
    baseline = _timings(lambda: list(Referral.objects.filter(pk=sample_pk)), 300)
    results: dict[str, Any] = {
        "referrals": Referral.objects.count(),
        "services": N_SERVICES,
        "service_worklist_rows": in_worklist,
        "populate_seconds": round(populate_s, 1),
        "baseline_pk_lookup": baseline,
    }
    for page in (25, 50, 100):
        with CaptureQueriesContext(connection) as ctx:
            worklist(page)()
        t = _timings(worklist(page), 300)
        results[f"worklist_page_{page}"] = {
            **t,
            "queries": len(ctx.captured_queries),
            "ratio_p50_to_baseline": round(t["p50_ms"] / baseline["p50_ms"], 2),
        }
    results["worklist_plan"] = Referral.objects.worklist(service.pk)[:50].explain().splitlines()[:6]

    # The review page as a dermatologist sees it (server time, whole request).
    client.force_login(world.derek)
    referral = Referral.objects.worklist(service.pk).first()
    assert referral is not None
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse("referral-detail", args=[referral.pk])
    except NoReverseMatch:
        url = None
    if url is not None:
        # Count with an execute wrapper, not the query log: after the long populate the
        # connection is older than CONN_MAX_AGE and is recycled during the request.
        executed: list[str] = []

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            executed.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            response = client.get(url)
        assert response.status_code == 200
        t = _timings(lambda: client.get(url), 100)
        results["referral_detail_page"] = {
            **t,
            "queries": len(executed),
            "ratio_p50_to_baseline": round(t["p50_ms"] / baseline["p50_ms"], 2),
        }
    wl = results["worklist_page_50"]
    assert isinstance(wl, dict)
    assert (
        results["worklist_page_25"]["queries"]
        == wl["queries"]
        == results["worklist_page_100"]["queries"]
    )
    _write({"worklist": results})
    print(json.dumps(results, indent=2))


def test_bench_api_submission_throughput(world, client, settings) -> None:  # type: ignore[no-untyped-def]
    """Referrals with three 4 MB images through the REST API, against storing the same bytes.

    As in production, the pipeline is queued for the worker (database task backend), not run
    inside the request: this measures what the capture app waits for."""
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks_db.DatabaseBackend",
            "QUEUES": ["default", "imaging", "triage", "notifications", "interop"],
            "ENQUEUE_ON_COMMIT": True,
        }
    }
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
    from django.urls import NoReverseMatch, reverse

    from dermbridge.imaging.synthetic import lesion_photo
    from dermbridge.testing import make_patient

    try:
        create_url = reverse("api-referrals")
    except NoReverseMatch:
        pytest.skip("the REST API is not routed")
    photo = lesion_photo(2600, 1950, seed=3, quality=97)
    photo = photo + b"\0" * max(0, 4_000_000 - len(photo))  # pad to ~4 MB like a phone photo
    client.force_login(world.alice)
    n = 8
    # Encode the multipart bodies once: the benchmark measures the server, not the test client.
    bodies = {
        t: encode_multipart(BOUNDARY, {"file": BytesIO(photo), "image_type": t})
        for t in ("overview", "close_up", "dermoscopic")
    }

    def floor() -> None:
        for _ in range(3):
            blob_store().put(photo + str(time.perf_counter_ns()).encode())

    def submit_one() -> None:
        patient = make_patient(world.practice_a, world.alice)
        response = client.post(
            create_url,
            data=json.dumps(
                {
                    "patient": patient.pk,
                    "kind": "ras",
                    "service": world.service.ods_code,
                    "referring_org": world.practice_a.ods_code,
                    "clinical_question": "Bench",
                    "history": {"onset": "1_to_3_months"},
                    "lesions": [{"body_site_code": "77568009", "laterality": "left", "size_mm": 5}],
                }
            ),
            content_type="application/json",
        )
        assert response.status_code == 201, response.content[:300]
        ref = response.json()["reference"]
        for image_type in ("overview", "close_up", "dermoscopic"):
            up = client.generic(
                "POST",
                reverse("api-lesion-images", args=[ref, 1]),
                bodies[image_type],
                content_type=MULTIPART_CONTENT,
            )
            assert up.status_code == 202, up.content[:300]

    submit_one()  # warm-up: URL modules import on the first request
    tracemalloc.start()
    t0 = time.perf_counter()
    for _ in range(n):
        submit_one()
    api_s = time.perf_counter() - t0
    _, api_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t0 = time.perf_counter()
    for _ in range(n):
        floor()
    floor_s = time.perf_counter() - t0
    results = {
        "referrals": n,
        "images_per_referral": 3,
        "image_bytes": len(photo),
        "api_referrals_per_second": round(n / api_s, 2),
        "floor_encrypt_store_referrals_per_second": round(n / floor_s, 2),
        "ratio_api_to_floor": round(api_s / floor_s, 2),
        "api_peak_traced_memory_mb": round(api_peak / 1e6, 1),
        "database": connection.vendor,
    }
    _write({"api_submission": results})
    print(json.dumps(results, indent=2))


def _write(part: dict[str, object]) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data.update(part)
    OUT.write_text(json.dumps(data, indent=2) + "\n")
