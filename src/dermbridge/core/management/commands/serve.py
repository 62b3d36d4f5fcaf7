"""`dermbridge serve`: the web application under gunicorn with threaded (gthread) workers.

Collects the static files (hashed names, compressed) unless told not to, then replaces this
process with gunicorn — so systemd, a container runtime or `make serve` signal gunicorn's master
directly: SIGTERM stops gracefully, SIGHUP reloads the code, settings and `_FILE` secrets in
new workers without dropping a request. Worker processes, threads and the bind addresses come
from DERMBRIDGE_WEB_WORKERS, DERMBRIDGE_WEB_THREADS and DERMBRIDGE_BIND (or the options here).
The system checks run first, so a server with per-host secrets where hosts share data
(dermbridge.E101, E102) refuses to start. docs/adr/0009-production-server.md, docs/deploy.md.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections


def gunicorn_argv(
    binds: list[str], workers: int, threads: int, timeout: int, extra: list[str] | None = None
) -> list[str]:
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:dermbridge.core.gunicorn_config"]
    for bind in binds:
        argv += ["--bind", bind]
    argv += ["--workers", str(workers), "--threads", str(threads), "--timeout", str(timeout)]
    return [*argv, *(extra or [])]


class Command(BaseCommand):
    help = "Run the web application under gunicorn (threaded workers), after collectstatic."
    # Checked in handle(), after collectstatic (else W103 would report what is about to be done).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind",
            action="append",
            help="host:port or unix:/path (repeatable); default DERMBRIDGE_BIND",
        )
        parser.add_argument("--workers", type=int, help="default DERMBRIDGE_WEB_WORKERS")
        parser.add_argument("--threads", type=int, help="default DERMBRIDGE_WEB_THREADS")
        parser.add_argument(
            "--no-collectstatic",
            action="store_true",
            help="skip collectstatic (done at install time, or the static root is read-only)",
        )
        parser.add_argument(
            "--print-command",
            action="store_true",
            help="print the gunicorn command line instead of running it",
        )
        parser.add_argument(
            "gunicorn_args", nargs="*", help="more gunicorn options, after --", default=[]
        )

    def handle(self, *args: Any, **options: Any) -> None:
        binds = options["bind"] or settings.WEB_BIND
        workers = options["workers"] or settings.WEB_WORKERS
        threads = options["threads"] or settings.WEB_THREADS
        if workers < 1 or threads < 1:
            raise CommandError("--workers and --threads must be at least 1.")
        argv = gunicorn_argv(
            binds, workers, threads, settings.WEB_TIMEOUT_SECONDS, options["gunicorn_args"]
        )
        if options["print_command"]:
            self.stdout.write(" ".join(argv))
            return
        if not options["no_collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        if not options.get("skip_checks"):
            self.check()  # errors (dermbridge.E101, E102, ...) stop here, naming the fix
        self.stdout.write(
            f"DermBridge web: gunicorn, {workers} worker processes x {threads} threads, "
            f"on {', '.join(binds)}"
        )
        self.stdout.flush()
        sys.stderr.flush()
        connections.close_all()  # nothing of Django's is handed on; gunicorn loads the app anew
        os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter, fixed arguments)
