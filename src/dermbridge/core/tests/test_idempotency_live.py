"""Idempotency-Key against a real server process on the embedded SQLite database: ten clients
at once with one key, and a client that gives up on a slow answer (a read time-out) and
retries. Slow (migrations and a server start); the rules themselves are in test_idempotency.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dermbridge.core.scaled import free_port
from dermbridge.core.tests.harness import subprocess_env
from dermbridge.referrals.tests.api_support import new_referral_body

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        # No worker: uploads wait, referrals do not.
        self.env = subprocess_env(root, DERMBRIDGE_TASK_BACKEND="database")
        self.proc: subprocess.Popen[bytes] | None = None
        self.command = [sys.executable, "-m", "dermbridge.manage"]

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "dermbridge.manage", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def start(self) -> str:
        self.cli("migrate", "--noinput", "-v0")
        self.cli("shell", "-c", "from dermbridge.testing import make_world; make_world()")
        token = self.cli("issue-token", "alice").strip().split()[-1]
        log = (self.root / "web.log").open("ab")
        self.proc = subprocess.Popen(
            [*self.command, "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while self.post("/api/referrals/", {}, token, key=None, timeout=2)[0] != 400:
            assert self.proc.poll() is None, (self.root / "web.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        return token

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def post(
        self, path: str, body: Any, token: str, *, key: str | None, timeout: float = 30
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()
        except (urllib.error.URLError, OSError):
            return 0, {}, b""  # refused, reset or timed out

    def count(self, token: str) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/referrals/",
            headers={"Authorization": f"Token {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(json.loads(response.read())["count"])


def test_ten_clients_and_a_timed_out_retry_against_a_live_server(tmp_path: Path) -> None:
    server = Server(tmp_path)
    try:
        token = server.start()
        codes_world = SimpleNamespace(
            service=SimpleNamespace(ods_code="RXX01"),
            practice_a=SimpleNamespace(ods_code="A81001"),
        )
        body = new_referral_body(codes_world)  # type: ignore[arg-type]
        barrier = threading.Barrier(10)
        answers: list[tuple[int, dict[str, str], bytes]] = []
        lock = threading.Lock()

        def client() -> None:
            barrier.wait(timeout=30)
            answer = server.post("/api/referrals/", body, token, key="ten-at-once")
            with lock:
                answers.append(answer)

        threads = [threading.Thread(target=client) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        codes = sorted(a[0] for a in answers)
        assert set(codes) <= {201, 409}, codes
        firsts = [a for a in answers if a[0] == 201 and "Idempotent-Replayed" not in a[1]]
        assert len(firsts) == 1, codes
        assert server.count(token) == 1

        # A read time-out: the client gives up before the answer, the server carries on.
        body2 = {**body, "clinical_question": "Second lesion: BCC?"}
        first = server.post("/api/referrals/", body2, token, key="timeout-1", timeout=0.01)
        assert first[0] in (0, 201)
        for _ in range(100):  # retry with the same key until the first request has finished
            retry = server.post("/api/referrals/", body2, token, key="timeout-1")
            if retry[0] != 409:
                break
            time.sleep(0.1)
        assert retry[0] == 201, retry
        assert server.count(token) == 2
    finally:
        server.stop()
