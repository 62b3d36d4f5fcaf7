"""Audited vs unaudited image views on PostgreSQL with 16 concurrent clients, in the same run.

Each client is a thread with its own database connection and its own signed-in Django test
client (the dermatologist), fetching a lesion photo's thumbnail through the real view:
session, visibility query, decryption, and the audit event appended to the chain under the
`AuditHead` lock. The unaudited rounds swap the view's audit call for nothing; rounds alternate
(audited, unaudited, ...) so a change in the machine's load hits both. Goal: audited views/s at
least 80% of unaudited (issue 12). Writes docs/benchmarks/audit.json.

Run: ``python -m dermbridge.audit.bench`` (``make bench``); needs PostgreSQL
(DERMBRIDGE_BENCH_PG, default postgres://postgres@127.0.0.1:5432/), creates and drops its own
database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
DB_NAME = "dermbridge_audit_bench"


def _prepare_environment(pg_base: str) -> None:
    import psycopg

    with psycopg.connect(pg_base.rstrip("/") + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ["DERMBRIDGE_DATABASE_URL"] = pg_base.rstrip("/") + "/" + DB_NAME
    os.environ["DERMBRIDGE_DATA_DIR"] = tempfile.mkdtemp(prefix="dermbridge-audit-bench-")
    os.environ["DERMBRIDGE_TASK_BACKEND"] = "immediate"
    os.environ["DERMBRIDGE_REQUIRE_TWO_FACTOR"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dermbridge.settings")


def _drop(pg_base: str) -> None:
    import psycopg

    with psycopg.connect(pg_base.rstrip("/") + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def _run_round(clients: int, seconds: float, make_call: Callable[[], Callable[[], None]]) -> float:
    """Views per second with `clients` threads calling for `seconds` (after a short warm-up)."""
    from django.db import connections

    counts = [0] * clients
    start = threading.Barrier(clients + 1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            call = make_call()
            call()  # warm: connection, session
            start.wait()
            while not stop.is_set():
                call()
                counts[i] += 1
        except BaseException as exc:
            errors.append(exc)
            start.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="pairs of audited/unaudited rounds")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks" / "audit.json"))
    parser.add_argument(
        "--pg",
        default=os.environ.get("DERMBRIDGE_BENCH_PG", "postgres://postgres@127.0.0.1:5432"),
    )
    args = parser.parse_args(argv)
    _prepare_environment(args.pg)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections
    from django.test import Client

    from dermbridge.audit.models import AuditEvent
    from dermbridge.audit.services import verify_chain
    from dermbridge.imaging import reads as imaging_services
    from dermbridge.imaging.models import LesionImage
    from dermbridge.personas import make_referral, make_world
    from dermbridge.referrals.models import State

    try:
        call_command("migrate", verbosity=0)
        world = make_world()
        referral = make_referral(world, state=State.AWAITING_REVIEW)
        image = LesionImage.objects.filter(lesion__referral=referral).first()
        assert image is not None
        url = f"/images/{image.media_key}/thumbnail/"
        derek_pk = world.derek.pk
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            pg_version = cur.fetchone()[0]
        connections.close_all()

        def view_call() -> Callable[[], None]:
            from dermbridge.accounts.models import User

            client = Client()
            client.force_login(User.objects.get(pk=derek_pk))

            def call() -> None:
                response = client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"{url} answered {response.status_code}")

            return call

        def service_call() -> Callable[[], None]:
            from dermbridge.accounts.models import User

            user = User.objects.get(pk=derek_pk)
            photo = LesionImage.objects.select_related("lesion__referral").get(pk=image.pk)

            def call() -> None:
                imaging_services.read_derivative(photo, "thumbnail", user=user)

            return call

        real_record = imaging_services.record

        def no_audit(*args: Any, **kwargs: Any) -> None:
            return None

        # "view": the whole request; "service": read_derivative alone (decrypt + audit), where
        # the chain's lock is a far larger share of the work.
        rounds: dict[str, dict[str, list[float]]] = {
            level: {"audited": [], "unaudited": []} for level in ("view", "service")
        }
        events_before = AuditEvent.objects.count()
        for _ in range(args.rounds):
            for level, make_call in (("view", view_call), ("service", service_call)):
                for mode in ("audited", "unaudited"):
                    imaging_services.record = real_record if mode == "audited" else no_audit  # type: ignore[assignment]
                    try:
                        rate = _run_round(args.clients, args.seconds, make_call)
                    finally:
                        imaging_services.record = real_record
                    rounds[level][mode].append(round(rate, 1))
                    print(f"{level:>7} {mode:>9}: {rate:7.1f} views/s", flush=True)
        audited_events = AuditEvent.objects.count() - events_before
        verification = verify_chain()
        audited = statistics.median(rounds["view"]["audited"])
        unaudited = statistics.median(rounds["view"]["unaudited"])
        s_audited = statistics.median(rounds["service"]["audited"])
        s_unaudited = statistics.median(rounds["service"]["unaudited"])
        result: dict[str, Any] = {
            "what": "GET /images/<key>/thumbnail/ as a signed-in dermatologist, full Django stack",
            "database": f"PostgreSQL {pg_version} (127.0.0.1)",
            "clients": args.clients,
            "seconds_per_round": args.seconds,
            "rounds": rounds,
            "audited_views_per_s": audited,
            "unaudited_views_per_s": unaudited,
            "ratio": round(audited / unaudited, 3),
            "goal_ratio": 0.8,
            "goal_met": audited / unaudited >= 0.8,
            "service_level": {
                "what": "imaging.reads.read_derivative alone (decrypt + audit), same clients",
                "audited_per_s": s_audited,
                "unaudited_per_s": s_unaudited,
                "ratio": round(s_audited / s_unaudited, 3),
            },
            "audit_events_written": audited_events,
            "chain_verified": verification.ok,
            "events_verified": verification.checked,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        print(json.dumps(result, indent=2))
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        return result
    finally:
        connections.close_all()
        _drop(args.pg)


if __name__ == "__main__":
    main()
