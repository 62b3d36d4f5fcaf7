"""What the dermatologist's read views cost the server, side by side with a baseline commit.

`make bench` runs ``python -m dermbridge.core.viewcost``: the baseline commit (by default the
commit before the work of issue #12 item 7 on these views) is checked out into a temporary git
worktree, one demo data set is built and copied for each side, and then, alternating baseline
and current code in separate subprocesses for ``--rounds`` rounds, each side serves ``--requests``
requests of each view through Django's WSGI handler (what gunicorn calls; no sockets) as the
demo dermatologist: the worklist, a review page, a thumbnail and a viewer image. Per view: the
process CPU time per request (median over every request of every round), the number of SQL
statements one request runs, and the response size; the ratio baseline / current. The result
goes to docs/benchmarks/view-cost.json (``--out``), the profile of the current code's dearest
view to var/view-cost-profile.txt. Both sides run this same measuring code: the file is copied
into the baseline worktree.

    python -m dermbridge.core.viewcost [--baseline COMMIT] [--rounds 5] [--requests 30]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
# The commit before the view-cost work (git rev-parse HEAD when it started).
BASELINE_COMMIT = "e532063b366051b7229a14483632f1a26724f553"
OUT = ROOT / "docs" / "benchmarks" / "view-cost.json"
PROFILE = ROOT / "var" / "view-cost-profile.txt"
VIEWS = ("worklist", "review page", "image thumbnail", "image viewer")


# --- Inside a side's process (Django set up on that side's code and data) -------------------


def discover(username: str = "dermatologist", limit: int = 5) -> dict[str, Any]:
    """What to request: the review pages linked from the user's worklist and the ready photos of
    those referrals (found from the rows, so both sides request the same addresses)."""
    from dermbridge.imaging.models import LesionImage

    status, body = _Server(username).get("/worklist/")
    if status != 200:
        raise RuntimeError(f"/worklist/ answered {status}")
    pks = [int(pk) for pk in re.findall(r'href="/referrals/(\d+)/"', body.decode())][:limit]
    keys = list(
        LesionImage.objects.filter(lesion__referral_id__in=pks, status="ready")
        .order_by("pk")
        .values_list("media_key", flat=True)[:limit]
    )
    if not pks or not keys:
        raise RuntimeError("The worklist shows no referral with a ready photo.")
    return {"username": username, "referrals": pks, "images": keys}


class _Server:
    """Requests served by Django's WSGI handler as one signed-in user, in this process."""

    def __init__(self, username: str) -> None:
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.handlers.wsgi import WSGIHandler
        from django.test import Client

        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        self.handler = WSGIHandler()
        self.base = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={cookie}",
            "HTTP_ACCEPT": "text/html,image/*",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }

    def get(self, path: str) -> tuple[int, bytes]:
        from django.core import signals
        from django.db import close_old_connections

        statuses: list[str] = []
        environ = {**self.base, "PATH_INFO": path, "wsgi.input": io.BytesIO(b"")}
        # As Django's test client: the connection is kept (inside a test's transaction too).
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:

            def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
                statuses.append(status)
                return lambda data: None

            result = self.handler(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                getattr(result, "close", lambda: None)()
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)
        return int(statuses[0][:3]), body


class _Counter:
    """A database execute wrapper that notes each SQL statement run."""

    def __init__(self, statements: list[str]) -> None:
        self.statements = statements

    def __call__(self, execute: Any, sql: str, *args: Any) -> Any:
        self.statements.append(sql)
        return execute(sql, *args)


def _paths(targets: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "worklist": ["/worklist/"],
        "review page": [f"/referrals/{pk}/" for pk in targets["referrals"]],
        "image thumbnail": [f"/images/{key}/thumbnail/" for key in targets["images"]],
        "image viewer": [f"/images/{key}/viewer/" for key in targets["images"]],
    }


def measure(targets: dict[str, Any], requests: int, profile: Path | None = None) -> dict[str, Any]:
    """Per view: the CPU time of each of ``requests`` requests (ms), the SQL statements one
    request runs, the response size. Every address is requested once first (warm-up)."""
    from django.db import connection

    import dermbridge

    server = _Server(targets["username"])
    result: dict[str, Any] = {"code": str(Path(dermbridge.__file__).parent), "views": {}}
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            result["journal_mode"] = cursor.fetchone()[0]
    for name, paths in _paths(targets).items():
        for path in paths:
            status, _ = server.get(path)
            if status != 200:
                raise RuntimeError(f"{name} {path} answered {status}")
        statements: list[str] = []
        with connection.execute_wrapper(_Counter(statements)):
            _, body = server.get(paths[0])
        samples = []
        for i in range(requests):
            path = paths[i % len(paths)]
            c0 = time.process_time()
            status, _ = server.get(path)
            samples.append(round((time.process_time() - c0) * 1000, 3))
            if status != 200:
                raise RuntimeError(f"{name} {path} answered {status}")
        result["views"][name] = {"cpu_ms": samples, "queries": len(statements), "bytes": len(body)}
    if profile is not None:
        worst = max(result["views"], key=lambda v: statistics.median(result["views"][v]["cpu_ms"]))
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        paths = _paths(targets)[worst]
        profiler.start()
        for i in range(requests):
            server.get(paths[i % len(paths)])
        profiler.stop()
        profile.parent.mkdir(parents=True, exist_ok=True)
        profile.write_text(
            f"{worst}, {requests} requests\n"
            + profiler.output_text(unicode=False, color=False, show_all=False)
        )
        result["profiled"] = worst
    return result


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Baseline against current per view, from each side's runs (``measure`` results)."""
    views: dict[str, Any] = {}
    for name in VIEWS:
        entry: dict[str, Any] = {}
        for side, results in runs.items():
            samples = [ms for r in results for ms in r["views"][name]["cpu_ms"]]
            entry[side] = {
                "cpu_ms_median": round(statistics.median(samples), 2),
                "cpu_ms_p90": round(sorted(samples)[int(0.9 * (len(samples) - 1))], 2),
                "round_medians_ms": [
                    round(statistics.median(r["views"][name]["cpu_ms"]), 2) for r in results
                ],
                "queries": results[-1]["views"][name]["queries"],
                "bytes": results[-1]["views"][name]["bytes"],
                "requests": len(samples),
            }
        if "baseline" in entry and "current" in entry and entry["current"]["cpu_ms_median"]:
            entry["ratio"] = round(
                entry["baseline"]["cpu_ms_median"] / entry["current"]["cpu_ms_median"], 2
            )
        views[name] = entry
    return views


def _child(args: argparse.Namespace) -> int:
    import django

    django.setup()
    if args.discover:
        print(json.dumps(discover()))
        return 0
    targets = json.loads(Path(args.targets).read_text())
    profile = Path(args.profile) if args.profile else None
    print(json.dumps(measure(targets, args.requests, profile)))
    return 0


# --- The driver ------------------------------------------------------------------------------


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _env(data: Path, src: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DERMBRIDGE_", "DJANGO_", "AWS_")) and k != "PYTEST_CURRENT_TEST"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="dermbridge.settings",
        DERMBRIDGE_DATA_DIR=str(data),
        DERMBRIDGE_DEMO_MODE="true",
        DERMBRIDGE_EMAIL_CHANNEL="file",
        PYTHONPATH=str(src),  # ahead of the editable install's path
    )
    return env


def _run(tree: Path, data: Path, *args: str, timeout: float = 1800) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=tree, env=_env(data, tree / "src"),
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{' '.join(args[:3])} in {tree}: {done.stderr[-3000:]}")
    return done.stdout


def _default_journal(database: Path) -> None:
    """Put a side's copy of the database back in SQLite's default (rollback journal) mode: the
    journal mode is kept in the file, so a copy made by code that asks for a write-ahead log
    would hand it to the baseline too. Each side's code then sets its own on connecting."""
    if not database.exists():
        return
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE_COMMIT)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=30, help="per view, per round, per side")
    parser.add_argument(
        "--current",
        help="measure this commit (checked out like the baseline) instead of the working tree",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--demo-data", type=Path, help="copy this demo data directory instead of building one"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--discover", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    if not (1 <= args.rounds <= 20 and 1 <= args.requests <= 500):
        parser.error("--rounds 1-20 and --requests 1-500")
    baseline = _git("rev-parse", args.baseline)
    head = _git("rev-parse", args.current or "HEAD")
    dirty = not args.current and bool(_git("status", "--porcelain", "--untracked-files=no"))
    work = Path(tempfile.mkdtemp(prefix="dermbridge-viewcost-"))
    old = work / "baseline"
    trees = {"baseline": old, "current": work / "current" if args.current else ROOT}
    try:
        for side, commit in (("baseline", baseline), ("current", head)):
            if trees[side] != ROOT:
                _git("worktree", "add", "--detach", str(trees[side]), commit)
                shutil.copy(
                    Path(__file__), trees[side] / "src" / "dermbridge" / "core" / "viewcost.py"
                )
        print(f"[viewcost] demo data (baseline {baseline[:10]}, current {head[:10]}) ...")
        demo = args.demo_data or work / "demo"
        if not args.demo_data:
            _run(ROOT, demo, "-m", "dermbridge.manage", "migrate", "--noinput", "-v0")
            _run(ROOT, demo, "-m", "dermbridge.manage", "demo")
            # As make run: the hashed static names come from the collected manifest.
            _run(ROOT, demo, "-m", "dermbridge.manage", "collectstatic", "--noinput", "-v0")
        data = {side: work / f"data-{side}" for side in trees}
        for path in data.values():
            shutil.copytree(demo, path)
            _default_journal(path / "dermbridge.sqlite3")
        targets_file = work / "targets.json"
        out = _run(ROOT, data["current"], "-m", "dermbridge.core.viewcost", "--child", "--discover")
        targets_file.write_text(out.strip().splitlines()[-1])
        targets = json.loads(targets_file.read_text())
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
        for round_ in range(args.rounds):
            order = ["baseline", "current"] if round_ % 2 == 0 else ["current", "baseline"]
            for side in order:
                child = [
                    "-m",
                    "dermbridge.core.viewcost",
                    "--child",
                    "--targets",
                    str(targets_file),
                ]
                child += ["--requests", str(args.requests)]
                if side == "current" and round_ == args.rounds - 1:
                    child += ["--profile", str(PROFILE)]
                result = json.loads(_run(trees[side], data[side], *child).strip().splitlines()[-1])
                if Path(result["code"]).resolve() != (trees[side] / "src" / "dermbridge").resolve():
                    raise RuntimeError(f"{side} ran the code in {result['code']}")
                runs[side].append(result)
                medians = {v: statistics.median(result["views"][v]["cpu_ms"]) for v in VIEWS}
                print(f"[viewcost] round {round_ + 1} {side}: " + json.dumps(medians))
    finally:
        for tree in trees.values():
            if tree != ROOT and tree.exists():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "what": "Server CPU time per request (process time, median over every request of every "
        "round) and SQL statements per request of the dermatologist's read views, through "
        "Django's WSGI handler in one process on the demo data (SQLite, encrypted file store), "
        "the baseline commit and the current code alternating in separate processes on "
        "identical copies of the data",
        "baseline_commit": baseline,
        "current_commit": head + ("+uncommitted" if dirty else ""),
        "rounds": args.rounds,
        "requests_per_view_per_round": args.requests,
        "targets": {k: len(v) for k, v in targets.items() if k != "username"},
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d"),
        "sqlite_journal_mode": {side: r[-1].get("journal_mode") for side, r in runs.items() if r},
        "views": summarise(runs),
        "profile": str(PROFILE.relative_to(ROOT)),
        "profiled": runs["current"][-1].get("profiled") if runs["current"] else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name, entry in report["views"].items():
        b, c = entry["baseline"], entry["current"]
        print(
            f"{name}: {b['cpu_ms_median']} ms, {b['queries']} queries -> "
            f"{c['cpu_ms_median']} ms, {c['queries']} queries ({entry.get('ratio')}x cheaper)"
        )
    print(f"View cost: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
