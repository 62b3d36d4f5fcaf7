"""`dermbridge serve`: gunicorn with threaded workers answers pages, and the hashed static files
it collected are served with a far-future, immutable Cache-Control."""

# ruff: noqa: S310 (loopback http URLs this test builds itself)
from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dermbridge.core.tests.harness import collected_static, free_port, wait_for


def _copy_or_migrate(root: Path, command: list[str], env: dict[str, str], blocker: Any) -> None:
    """The served database: a copy of the suite's migrated SQLite database (seconds faster than
    migrating a new one), or, against PostgreSQL, a migrated file of its own."""
    with blocker.unblock():
        from django.db import connection

        connection.ensure_connection()
        raw = connection.connection
        if connection.vendor == "sqlite" and isinstance(raw, sqlite3.Connection):
            with contextlib.closing(sqlite3.connect(root / "dermbridge.sqlite3")) as target:
                raw.backup(target)
            return
    subprocess.run([*command, "migrate", "-v0"], env=env, check=True, timeout=300)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DERMBRIDGE_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="dermbridge.settings",
        DERMBRIDGE_DATA_DIR=str(root),
        DERMBRIDGE_WEB_WORKERS="2",
        DERMBRIDGE_WEB_THREADS="2",
        DERMBRIDGE_BIND=f"127.0.0.1:{port}",
        # Collected once for the suite (test_the_serve_command_collects_static_files_first
        # checks that serve collects them itself).
        DERMBRIDGE_STATIC_ROOT=str(collected_static()),
    )
    command = [sys.executable, "-m", "dermbridge.manage"]
    _copy_or_migrate(root, command, env, django_db_blocker)
    log = (root / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*command, "serve", "--no-collectstatic"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError((root / "serve.log").read_text()[-3000:])
        try:
            return urllib.request.urlopen(base + "/login/", timeout=5).status == 200
        except OSError:
            return False

    try:
        wait_for(up, 180, "dermbridge serve to answer", every=0.5)
        yield base, root
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


def test_serve_runs_gunicorn_with_threaded_workers_and_answers_pages(server) -> None:
    base, root = server
    with urllib.request.urlopen(base + "/login/", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Server"] == "gunicorn"
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
        assert b"Sign in" in response.read()
    log = (root / "serve.log").read_text()
    assert "Using worker: gthread" in log and "2 worker processes x 2 threads" in log
    assert len(re.findall(r"Booting worker with pid", log)) == 2


def test_a_hashed_static_asset_is_cached_for_ever(server) -> None:
    base, _ = server
    page = urllib.request.urlopen(base + "/login/", timeout=10).read().decode()
    css = re.search(r"/static/nhsuk/nhsuk-frontend\.min\.[0-9a-f]{12}\.css", page)
    assert css, "the page does not name the hashed stylesheet"
    request = urllib.request.Request(base + css.group(0), headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "max-age=315360000, public, immutable"
        assert response.headers["Content-Encoding"] == "gzip"
    # The page's own script imports the vendored NHS.UK script by its hashed name too.
    script = re.search(r"/static/web/app\.[0-9a-f]{12}\.js", page)
    assert script
    body = urllib.request.urlopen(base + script.group(0), timeout=10).read().decode()
    assert re.search(r'from "\.\./nhsuk/nhsuk-frontend\.min\.[0-9a-f]{12}\.js"', body)


def test_static_files_come_from_the_package_not_node_modules() -> None:
    from django.conf import settings
    from django.contrib.staticfiles import finders

    assert not getattr(settings, "STATICFILES_DIRS", [])
    found = finders.find("nhsuk/nhsuk-frontend.min.css")
    assert found and "node_modules" not in str(found)
    assert "/dermbridge/core/static/" in str(found)
    assert finders.find("panzoom/panzoom.es.js")


@pytest.mark.parametrize("skip", [False, True])
def test_the_serve_command_collects_static_files_first(monkeypatch, skip: bool) -> None:
    """`dermbridge serve` collects the static files, then hands over to gunicorn, unless told
    they were collected at install time (--no-collectstatic)."""
    from django.core.management import call_command

    from dermbridge.core.management.commands import serve

    calls: list[str] = []
    monkeypatch.setattr(serve, "call_command", lambda name, **kw: calls.append(name))

    def execv(path: str, argv: list[str]) -> None:
        calls.append("gunicorn" if "gunicorn" in " ".join(argv) else " ".join(argv))
        raise SystemExit(0)

    monkeypatch.setattr(serve.os, "execv", execv)
    args = ["--bind", "127.0.0.1:1", *(["--no-collectstatic"] if skip else [])]
    with pytest.raises(SystemExit):
        call_command("serve", *args)
    assert calls == (["gunicorn"] if skip else ["collectstatic", "gunicorn"])
