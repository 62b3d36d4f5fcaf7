"""`make run-scaled`: on one machine, what a trust runs on several (docs/adr/0011-*.md).

The command line (``python -m dermbridge.core.scaled``): starts a Stack, supervises it, stops
it on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from typing import Any

from dermbridge.core.scaled.stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run-scaled", description=__doc__.split("\n\n")[0])
    default_root = Path(os.environ.get("DERMBRIDGE_DATA_DIR", "var")) / "scaled"
    parser.add_argument("--data-dir", type=Path, default=default_root)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--webs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--schedulers", type=int, default=1)
    parser.add_argument("--web-processes", type=int, default=1)
    parser.add_argument("--web-threads", type=int, default=4)
    args = parser.parse_args(argv)
    stack = Stack(
        args.data_dir.resolve(), port=args.port, webs=args.webs, workers=args.workers,
        schedulers=args.schedulers, web_processes=args.web_processes,
        web_threads=args.web_threads, database_url=os.environ.get("DERMBRIDGE_DATABASE_URL", ""),
    )  # fmt: skip
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start(say=lambda s: print(s, flush=True))
        print(
            f"\nDermBridge scaled profile on {stack.base} (nginx, round robin) -> web on "
            + ", ".join(f"127.0.0.1:{p}" for p in stack.web_ports)
            + f"; {args.workers} task workers, {args.schedulers} scheduler; PostgreSQL; "
            f"SeaweedFS S3 on 127.0.0.1:{stack.s3_port}. Logs: {stack.root / 'logs'}. "
            "Ctrl-C stops everything.",
            flush=True,
        )
        print(stack.cli("demo", "--print-logins"), flush=True)
        stack.supervise()
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        stack.stop()
    return 0
