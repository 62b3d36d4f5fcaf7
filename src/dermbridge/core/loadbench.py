"""The load benchmark (`make bench`): Locust against `make run`'s set-up and the scaled profile.
(A tool, never imported by the service; over ~400 lines as one script with its report.)

For each set-up, in the same run: start it fresh under a temporary directory (the demo data),
ramp simulated users (GPs uploading 3 MB photos, dermatologists, patients, API clients;
dermbridge/core/locustfile.py) up to ``--users`` over ``--ramp-seconds``, hold them until
``--seconds``, stop it. Per request type: count, throughput, p50/p95/p99, errors; the read p95
and p99 at full load; the throughput at which the read p95 (10-second windows) first crosses
300 ms during the ramp. Then the CPU time per request type, measured in one process on the demo
data (``--cpu``), with a pyinstrument profile of the dearest.

The result goes to ``--out`` (var/load-bench.json); with ``--record`` it also becomes the stored
baseline (docs/benchmarks/load.json). A run more than 25% slower than the baseline (p95 of a
request type, or read throughput) is reported, not failed. Loopback only; bounded in users and
time; every process started here is stopped here.

    python -m dermbridge.core.loadbench [--users 50] [--seconds 300] [--setups runserver,scaled]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dermbridge.core.scaled import Proc, Stack, _get, free_port, wait_for

ROOT = Path(__file__).resolve().parents[3]
BASELINE = ROOT / "docs" / "benchmarks" / "load.json"
READ_P95_LIMIT_MS = 300.0
SLOWER = 1.25

PREPARE = r"""
import json, subprocess
from dermbridge.notifications.services import issue_status_link
from dermbridge.referrals.models import Referral
from dermbridge.accounts.tokens import issue_api_token
from django.contrib.auth import get_user_model
from dermbridge.demo import DEMO_PASSWORD
from dermbridge.personas import DEFAULT_HISTORY, DEFAULT_LESION
users = get_user_model().objects
refs = list(Referral.objects.exclude(state="draft").order_by("pk")[:30])
links = [issue_status_link(r) for r in refs]
print(json.dumps({
    "gp_token": issue_api_token(users.get(username="gp"), issued_by=None).key,
    "api_token": issue_api_token(users.get(username="manager"), issued_by=None).key,
    "status_paths": ["/" + l.split("/", 3)[3] for l in links],
    "password": DEMO_PASSWORD,
    "history": dict(DEFAULT_HISTORY),
    "lesion": dict(DEFAULT_LESION),
}, default=str))
"""


def _photos(folder: Path, count: int = 6) -> list[str]:
    """Distinct ~3 MB JPEG photos of a lesion (made once, kept in ``folder``)."""
    import numpy as np
    from PIL import Image

    from dermbridge.imaging.synthetic import lesion_photo

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"lesion-{i}.jpg" for i in range(count)]
    if all(p.exists() for p in paths):
        return [str(p) for p in paths]
    base = Image.open(io.BytesIO(lesion_photo(640, 480, seed=11))).convert("RGB")
    base = base.resize((2400, 1800))
    pixels = np.asarray(base, dtype=np.int16)
    for i, path in enumerate(paths):
        noise = np.random.default_rng(i).integers(-28, 29, size=pixels.shape, dtype=np.int16)
        image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
        image.save(path, "JPEG", quality=96)  # about 3 MB each
    return [str(p) for p in paths]


def _setup_file(root: Path, prepared: dict[str, Any], photos: list[str]) -> Path:
    setup = {
        **prepared,
        "photos": photos,
        "dermatologist": "dermatologist",
        "seed_base": 600_000 + int(time.time()) % 300_000,  # above the demo patients
        "referral_template": {
            "patient_details": {
                "nhs_number": "",
                "given_name": "Load",
                "family_name": "",
                "date_of_birth": "1961-12-10",
                "sex": "female",
                "email": "load@example.org",
                "contact_preference": "email",
            },
            "kind": "ras",
            "service": "RXX01",
            "referring_org": "A81001",
            "clinical_question": "Changing pigmented lesion: melanoma?",
            "history": prepared["history"],
            "lesions": [prepared["lesion"]],
        },
    }
    path = root / "setup.json"
    path.write_text(json.dumps(setup))
    return path


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DERMBRIDGE_", "DJANGO_", "AWS_")) and k != "PYTEST_CURRENT_TEST"
    }
    env.update(DJANGO_SETTINGS_MODULE="dermbridge.settings", PYTHONUNBUFFERED="1", **extra)
    return env


class RunserverSetup:
    """`make run`: runserver, one task worker, the scheduler; SQLite and files; demo mode."""

    name = "runserver"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = _clean_env(
            DERMBRIDGE_DATA_DIR=str(root / "data"),
            DERMBRIDGE_DEMO_MODE="true",
            DERMBRIDGE_EMAIL_CHANNEL="file",
        )
        self.procs: list[Proc] = []

    def cli(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "dermbridge.manage", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"dermbridge {args[0]}: {done.stderr[-2000:]}")
        return done.stdout

    def start(self) -> None:
        self.cli("migrate", "--noinput", "-v0")
        self.cli("demo")
        self.cli("collectstatic", "--noinput", "-v0")
        py = [sys.executable, "-m", "dermbridge.manage"]
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        for name, args in [
            ("worker", ["worker", "--queue-name", "*"]),
            ("scheduler", ["scheduler"]),
            ("web", ["runserver", "--noreload", f"127.0.0.1:{self.port}"]),
        ]:
            proc = Proc(name, [*py, *args], self.env, self.root / "logs" / f"{name}.log")
            proc.start()
            self.procs.append(proc)
        wait_for(lambda: _get(self.base + "/healthz") == 200, 120, "runserver")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(signal.SIGTERM, seconds=20)


class ScaledSetup:
    """`make run-scaled`: nginx, two gunicorn web processes, two workers, a scheduler,
    PostgreSQL, SeaweedFS."""

    name = "scaled"

    def __init__(self, root: Path) -> None:
        self.stack = Stack(root, port=free_port())
        self.base = self.stack.base

    def cli(self, *args: str, timeout: float = 900) -> str:
        return self.stack.cli(*args, timeout=timeout)

    def start(self) -> None:
        self.stack.start()

    def stop(self) -> None:
        self.stack.stop()


@contextlib.contextmanager
def running(setup: RunserverSetup | ScaledSetup) -> Iterator[None]:
    try:
        setup.start()
        yield
    finally:
        setup.stop()


def run_locust(
    base: str, setup_path: Path, events: Path, *, users: int, seconds: int, ramp_seconds: int
) -> None:
    env = {
        **os.environ,
        "DERMBRIDGE_LOAD_SETUP": str(setup_path),
        "DERMBRIDGE_LOAD_EVENTS": str(events),
    }
    argv = [
        sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")),
        "--headless", "--host", base, "-u", str(users),
        "-r", f"{max(users / max(ramp_seconds, 1), 0.1):.3f}",
        "-t", f"{seconds}s", "--stop-timeout", "30", "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    subprocess.run(argv, env=env, timeout=seconds + 180, check=False, capture_output=True)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def analyse(events: Path, ramp_seconds: int) -> dict[str, Any]:
    rows = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    if not rows:
        return {"error": "no requests were made"}
    start = min(r["t"] for r in rows)
    duration = max(r["t"] for r in rows) - start or 1.0
    steady = [r for r in rows if r["t"] - start >= ramp_seconds] or rows
    steady_seconds = max(r["t"] for r in steady) - min(r["t"] for r in steady) or 1.0

    def summary(subset: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
        ms = [r["ms"] for r in subset]
        errors = sum(not r["ok"] for r in subset)
        return {
            "requests": len(subset),
            "per_second": round(len(subset) / seconds, 2),
            "p50_ms": _pct(ms, 0.50),
            "p95_ms": _pct(ms, 0.95),
            "p99_ms": _pct(ms, 0.99),
            "errors": errors,
            "error_rate": round(errors / len(subset), 5) if subset else 0.0,
        }

    by_type = {
        name: summary([r for r in steady if r["name"] == name], steady_seconds)
        for name in sorted({r["name"] for r in steady})
    }
    reads = [r for r in steady if r["read"]]
    # The throughput at which the read p95 of a 10-second window first passes 300 ms.
    windows = []
    for w0 in range(0, int(duration) - 9, 10):
        inside = [r for r in rows if w0 <= r["t"] - start < w0 + 10]
        read_ms = [r["ms"] for r in inside if r["read"]]
        if read_ms:
            windows.append(
                {
                    "from_s": w0,
                    "per_second": round(len(inside) / 10, 2),
                    "read_p95_ms": _pct(read_ms, 0.95),
                }
            )
    # The first window is warm-up (each process's first requests, the sign-ins): not a load.
    crossing = next((w for w in windows[1:] if w["read_p95_ms"] > READ_P95_LIMIT_MS), None)
    upstreams: dict[str, int] = {}
    for r in rows:
        if r.get("up"):
            upstreams[r["up"]] = upstreams.get(r["up"], 0) + 1
    return {
        "measured_seconds": round(duration, 1),
        "steady_seconds": round(steady_seconds, 1),
        "all": summary(steady, steady_seconds),
        "reads": summary(reads, steady_seconds),
        "by_type": by_type,
        "read_p95_crosses_300ms_at_per_second": crossing["per_second"] if crossing else None,
        "max_window_per_second_below_300ms": max(
            (w["per_second"] for w in windows[1:] if w["read_p95_ms"] <= READ_P95_LIMIT_MS),
            default=None,
        ),
        "windows": windows,
        "answered_by": upstreams,
    }


CPU_CODE = r"""
import json, time
from django.test import Client
from django.contrib.auth import get_user_model
import re
c = Client()
c.force_login(get_user_model().objects.get(username="dermatologist"))
work = c.get("/worklist/").content.decode()
pks = re.findall(r'href="/referrals/(\d+)/"', work)[:10]
review = c.get(f"/referrals/{pks[0]}/").content.decode()
images = [f"/images/{k}/{v}/" for k, v in re.findall(r"/images/([A-Za-z0-9_-]{16,32})/([a-z_]+)/", review)]
thumbs = [u for u in images if u.endswith("/thumbnail/")][:5] or images[:5]
viewers = [u for u in images if u.endswith("/viewer/")][:5] or images[:5]
api = Client(HTTP_AUTHORIZATION="Token " + TOKEN, HTTP_ACCEPT="application/json")
kinds = {
    "worklist": lambda i: c.get("/worklist/"),
    "review page": lambda i: c.get(f"/referrals/{pks[i % len(pks)]}/"),
    "image thumbnail": lambda i: c.get(thumbs[i % len(thumbs)]),
    "image viewer": lambda i: c.get(viewers[i % len(viewers)]),
    "status page": lambda i: Client().get(STATUS[i % len(STATUS)]),
    "api referral list": lambda i: api.get("/api/referrals/"),
}
out = {}
for name, call in kinds.items():
    call(0)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(N):
        assert call(i).status_code == 200, name
    out[name] = {"cpu_ms": round((time.process_time() - c0) / N * 1000, 1),
                 "wall_ms": round((time.perf_counter() - t0) / N * 1000, 1)}
worst = max(out, key=lambda k: out[k]["cpu_ms"])
from pyinstrument import Profiler
p = Profiler(interval=0.001)
p.start()
for i in range(N):
    kinds[worst](i)
p.stop()
open(PROFILE, "w").write(p.output_text(unicode=False, color=False, show_all=False))
print(json.dumps({"per_type": out, "profiled": worst}))
"""


def cpu_per_type(setup: RunserverSetup, prepared: dict[str, Any], n: int = 20) -> dict[str, Any]:
    """CPU per request type, in one process on the demo data (SQLite; no network)."""
    profile = ROOT / "var" / "load-profile.txt"
    profile.parent.mkdir(exist_ok=True)
    code = (
        f"TOKEN={prepared['api_token']!r}\nSTATUS={prepared['status_paths']!r}\nN={n}\n"
        f"PROFILE={str(profile)!r}\n" + CPU_CODE
    )
    out = setup.cli("shell", "-c", code)
    result = dict(json.loads(out.strip().splitlines()[-1]))
    result["profile"] = str(profile.relative_to(ROOT))
    return result


def compare(result: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """What is more than 25% slower than the stored baseline (reported, never failed)."""
    slower = []
    for setup, now in result.get("setups", {}).items():
        before = baseline.get("setups", {}).get(setup)
        if not before or "reads" not in now or "reads" not in before:
            continue
        for name, stats in now["by_type"].items():
            old = before["by_type"].get(name)
            if old and old["p95_ms"] and stats["p95_ms"] > SLOWER * old["p95_ms"] + 5:
                slower.append(f"{setup} {name}: p95 {old['p95_ms']} -> {stats['p95_ms']} ms")
        if now["reads"]["per_second"] * SLOWER < before["reads"]["per_second"]:
            slower.append(
                f"{setup} read throughput: {before['reads']['per_second']} -> "
                f"{now['reads']['per_second']} requests/s"
            )
    return slower


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--ramp-seconds", type=int, default=60)
    parser.add_argument("--setups", default="runserver,scaled")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "load-bench.json")
    parser.add_argument("--record", action="store_true", help="store the result as the baseline")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU-per-request step")
    args = parser.parse_args(argv)
    if not (1 <= args.users <= 200 and 10 <= args.seconds <= 1800):
        parser.error("--users 1-200 and --seconds 10-1800")
    work = Path(tempfile.mkdtemp(prefix="dermbridge-load-"))
    work.chmod(0o755)  # the private PostgreSQL cluster runs as the postgres user
    photos = _photos(ROOT / "var" / "load-photos")
    result: dict[str, Any] = {
        "what": "Locust, headless, loopback; simulated GPs (API: new referral + one 3 MB photo, "
        "10-30 s apart), dermatologists (session login; worklist, review pages, thumbnails and "
        "viewer images, 1-4 s apart), patients (status page, 5-15 s apart), API clients (lists "
        "and details, 2-6 s apart), in the weights 2:5:2:1",
        "users": args.users,
        "planned_seconds": args.seconds,
        "ramp_seconds": args.ramp_seconds,
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "goals": "scaled: read p95 < 300 ms, p99 < 1 s, errors < 0.1% at 50 users for 5 minutes",
        "setups": {},
    }
    try:
        for name in args.setups.split(","):
            setup: RunserverSetup | ScaledSetup = (
                RunserverSetup(work / name) if name == "runserver" else ScaledSetup(work / name)
            )
            (work / name).mkdir(parents=True, exist_ok=True)
            (work / name).chmod(0o755)
            print(f"[{name}] starting ...", flush=True)
            try:
                result["setups"][name] = measure(setup, name, work, photos, args)
            except Exception as exc:
                result["setups"][name] = {"error": f"{type(exc).__name__}: {str(exc)[-1500:]}"}
                print(f"[{name}] FAILED: {exc}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    finish(result, args)
    return 0


def measure(
    setup: RunserverSetup | ScaledSetup, name: str, work: Path, photos: list[str], args: Any
) -> dict[str, Any]:
    with running(setup):
        prepared = json.loads(setup.cli("shell", "-c", PREPARE).strip().splitlines()[-1])
        setup_path = _setup_file(work / name, prepared, photos)
        events = work / name / "events.jsonl"
        print(f"[{name}] {args.users} users for {args.seconds} s ...", flush=True)
        run_locust(
            setup.base, setup_path, events,
            users=args.users, seconds=args.seconds, ramp_seconds=args.ramp_seconds,
        )  # fmt: skip
        measured = analyse(events, args.ramp_seconds)
        shutil.copy(events, args.out.parent / f"load-events-{name}.jsonl")
        if name == "runserver" and not args.no_cpu and isinstance(setup, RunserverSetup):
            measured["cpu_per_request"] = cpu_per_type(setup, prepared)
        print(f"[{name}] {json.dumps(measured.get('reads'))}", flush=True)
        return measured


def finish(result: dict[str, Any], args: Any) -> None:
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    slower = compare(result, baseline) if baseline else []
    result["slower_than_baseline"] = slower
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.record:
        BASELINE.write_text(json.dumps(result, indent=2) + "\n")
    for line in slower:
        print(f"SLOWER THAN THE BASELINE (more than 25%): {line}")
    print(f"Load benchmark: {args.out}" + (f" and {BASELINE}" if args.record else ""))


if __name__ == "__main__":
    raise SystemExit(main())
