"""A real DermBridge deployment in processes, for fault-injection tests: web server, task workers
and scheduler as separate processes over one database (the embedded SQLite or a private
PostgreSQL cluster this harness initialises under the test's temp dir — never the machine's own
server), killed and restarted with real signals. Loopback only; every wait is bounded."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermbridge.core.scaled import free_port
from dermbridge.imaging.synthetic import lesion_photo


def wait_for(condition: Callable[[], Any], seconds: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def subprocess_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a DermBridge process of a test's own: this one's, less its
    DERMBRIDGE_/DJANGO_ settings and pytest's marker, over ``data_dir``, with two-factor off and
    mail written to files; ``extra`` adds or overrides ``DERMBRIDGE_*`` and other variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DERMBRIDGE_", "DJANGO_")) and k != "PYTEST_CURRENT_TEST"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="dermbridge.settings",
        DERMBRIDGE_DATA_DIR=str(data_dir),
        DERMBRIDGE_REQUIRE_TWO_FACTOR="false",
        DERMBRIDGE_EMAIL_CHANNEL="file",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def collected_static() -> Path:
    """The project's static files collected once (hashed and compressed, as `dermbridge serve`
    collects them: ~30 s of brotli), shared by every test that serves them and kept under
    var/test-static/ keyed by the static sources, so that a rerun, or a second test worker
    waiting on the lock, reuses it."""
    import fcntl
    import hashlib

    from django.conf import settings

    package = Path(__file__).resolve().parents[2]  # src/dermbridge
    digest = hashlib.sha256()
    for path in sorted(package.glob("*/static/**/*")):
        if path.is_file():
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    for path in sorted((package / "core").glob("staticfiles.py")):
        digest.update(path.read_bytes())
    cache = Path(settings.REPO_DIR) / "var" / "test-static"
    target = cache / digest.hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "staticfiles.json").exists():
            partial = cache / f"partial-{uuid.uuid4().hex}"
            env = subprocess_env(partial / "data", DERMBRIDGE_STATIC_ROOT=str(partial / "static"))
            subprocess.run(
                [sys.executable, "-m", "dermbridge.manage", "collectstatic", "--noinput", "-v0"],
                env=env,
                check=True,
                timeout=600,
                capture_output=True,
            )
            shutil.rmtree(target, ignore_errors=True)
            (partial / "static").rename(target)
            shutil.rmtree(partial, ignore_errors=True)
    return target


@dataclass
class Response:
    status: int  # 0: no answer (connection refused or reset, time-out)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Deployment:
    """DermBridge's processes over one data directory and database."""

    def __init__(self, root: Path, *, database_url: str = "", lease_seconds: int = 5) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = subprocess_env(
            root / "data",
            DERMBRIDGE_TASK_LEASE_SECONDS=str(lease_seconds),
            DERMBRIDGE_SCHEDULER_SECONDS="2",
        )
        if database_url:
            env["DERMBRIDGE_DATABASE_URL"] = database_url
            # Shared by design: every process is given the same keys (system checks E101-E103).
            env["DERMBRIDGE_SECRET_KEY"] = secrets.token_urlsafe(48)
            env["DERMBRIDGE_BLOB_KEYS"] = "k1:" + base64.b64encode(os.urandom(32)).decode()
            env["DERMBRIDGE_AUDIT_KEY"] = base64.b64encode(os.urandom(32)).decode()
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.token = ""

    # ---------------------------------------------------------------- commands
    def cli(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "dermbridge.manage", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode:
            raise AssertionError(f"dermbridge {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def python(self, code: str, timeout: float = 120) -> Any:
        """Run ``code`` in a Django shell of this deployment; it prints one JSON value."""
        return json.loads(self.cli("shell", "-c", code, timeout=timeout).strip().splitlines()[-1])

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the embedded SQLite database directly (fast enough to poll every 50 ms)."""
        import sqlite3

        path = Path(self.env["DERMBRIDGE_DATA_DIR"]) / "dermbridge.sqlite3"
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            return list(db.execute(query, params).fetchall())

    def clone_test_database(self) -> None:
        """Start from a copy of this test's migrated SQLite database rather than migrating
        (seconds saved): its schema and whatever rows the test has committed."""
        import sqlite3

        from django.db import connection

        connection.ensure_connection()
        raw = connection.connection
        if connection.vendor != "sqlite" or not isinstance(raw, sqlite3.Connection):
            raise RuntimeError("clone_test_database needs the suite's SQLite database")
        path = Path(self.env["DERMBRIDGE_DATA_DIR"]) / "dermbridge.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as target:
            raw.backup(target)

    def setup(self) -> None:
        self.cli("migrate", "--noinput", "-v0")
        self.cli("shell", "-c", "from dermbridge.testing import make_world; make_world()")
        self.token = self.cli("issue-token", "alice").strip().split()[-1]

    # ---------------------------------------------------------------- processes
    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "dermbridge.manage", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def start_web(self) -> None:
        self._spawn("web", "runserver", "--noreload", "--nothreading", f"127.0.0.1:{self.port}")
        self._spawn_wait_ready()

    def _spawn_wait_ready(self) -> None:
        def ready() -> bool:
            if self.procs["web"].poll() is not None:
                raise AssertionError(f"web server exited: {self.log('web', 3000)}")
            return self.get("/login/").status == 200

        wait_for(ready, 90, "the web server to answer")

    def start_threaded_web(self) -> None:
        self._spawn("web", "runserver", "--noreload", f"127.0.0.1:{self.port}")
        self._spawn_wait_ready()

    def start_worker(self, name: str = "worker") -> None:
        self._spawn(name, "worker", "--queue-name", "*", "--interval", "0.2", "--worker-id", name)

    def start_scheduler(self) -> None:
        self._spawn("scheduler", "scheduler", "--interval", "2")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)

    def log(self, name: str, tail: int = 0) -> str:
        path = self.root / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-tail:] if tail else text

    # ---------------------------------------------------------------- HTTP
    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Response:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self.token:
            all_headers["Authorization"] = f"Token {self.token}"
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif files is not None:
            boundary = uuid.uuid4().hex
            parts: list[bytes] = []
            for key, value in (fields or {}).items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                    f"{value}\r\n".encode()
                )
            for key, (filename, content, media_type) in files.items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; '
                    f'filename="{filename}"\r\nContent-Type: {media_type}\r\n\r\n'.encode()
                    + content
                    + b"\r\n"
                )
            parts.append(f"--{boundary}--\r\n".encode())
            data = b"".join(parts)
            all_headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        request = urllib.request.Request(  # noqa: S310 - loopback, our own server
            self.base + path, method=method, data=data, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                raw = answer.read()
                return Response(answer.status, _decode(raw), dict(answer.headers))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, _decode(exc.read()), dict(exc.headers))
        except (OSError, urllib.error.URLError):
            return Response(0)

    def get(self, path: str) -> Response:
        return self.request("GET", path, timeout=10)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def photo(seed: int) -> bytes:
    """A distinct, acceptable lesion photo per seed (the pipeline refuses repeats in a referral)."""
    return lesion_photo(800, 640, seed=seed)


def referral_body(seed: int) -> dict[str, Any]:
    """A draft referral for a new patient whose NHS number follows from ``seed``."""
    from dermbridge.testing import DEFAULT_HISTORY, DEFAULT_LESION, nhs_number_for

    return {
        "patient_details": {
            "nhs_number": nhs_number_for(seed),
            "given_name": "Test",
            "family_name": f"Patient{seed}",
            "date_of_birth": "1961-12-10",
            "sex": "female",
            "email": f"patient{seed}@example.org",
            "contact_preference": "email",
        },
        "kind": "ras",
        "service": "RXX01",
        "referring_org": "A81001",
        "clinical_question": "Changing pigmented lesion: melanoma?",
        "history": dict(DEFAULT_HISTORY),
        "lesions": [dict(DEFAULT_LESION)],
    }


VERIFY_ACKNOWLEDGED = """
import json
from dermbridge.imaging.models import LesionImage, BlobRef
from dermbridge.imaging.storage import blob_store
from dermbridge.imaging import blobrefs
from dermbridge.referrals.models import Referral
refs = %(refs)s
images = %(images)s
store = blob_store()
missing_referrals = [r for r in refs if not Referral.objects.filter(reference=r).exists()]
missing_images, missing_blobs, statuses = [], [], {}
for key in images:
    image = LesionImage.objects.filter(pk=key).first()
    if image is None:
        missing_images.append(key); continue
    statuses[image.status] = statuses.get(image.status, 0) + 1
    for address in blobrefs.image_addresses(image):
        if not store.exists(address):
            missing_blobs.append(key)
print(json.dumps({"missing_referrals": missing_referrals, "missing_images": missing_images,
                  "missing_blobs": missing_blobs, "statuses": statuses,
                  "images": LesionImage.objects.count()}))
"""


def verify(deployment: Deployment, refs: list[str], images: list[int]) -> dict[str, Any]:
    result: dict[str, Any] = deployment.python(
        VERIFY_ACKNOWLEDGED % {"refs": json.dumps(refs), "images": json.dumps(images)}
    )
    return result


# ---------------------------------------------------------------- a PACS that can be held


ORTHANC_GATE = """
-- DermBridge fault tests: record every instance received and, when asked, hold the n-th one
-- (its association waits for the answer) until the test releases it. Bounded: 60 s.
received = 0
function ReceivedInstanceFilter(dicom, origin, info)
  received = received + 1
  local log = io.open("%(dir)s/received.txt", "a")
  log:write(dicom.SOPInstanceUID .. "\\n")
  log:close()
  local hold = io.open("%(dir)s/hold-at", "r")
  if hold then
    local at = tonumber(hold:read("*l"))
    hold:close()
    if at == received then
      io.open("%(dir)s/in-flight", "w"):close()
      local deadline = os.time() + 60
      while not io.open("%(dir)s/release", "r") and os.time() < deadline do
        os.execute("sleep 0.05")
      end
    end
  end
  return true
end
"""


class HeldPacs:
    """A real DICOM peer for DermBridge's C-STORE: Orthanc where installed (a real PACS: an
    instance sent twice is stored once), else a pynetdicom Storage SCP in this process that
    keeps one object per SOP Instance UID as a PACS does. ``hold_at(n)`` makes it stop in the
    middle of the n-th C-STORE received (the object arrived, no answer yet) until ``release``."""

    ae_title = "FAULTPACS"

    def __init__(self, root: Path, kind: str = "") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        orthanc = shutil.which("Orthanc") or shutil.which("orthanc")
        self.kind = kind or ("orthanc" if orthanc else "pynetdicom")
        self.binary = orthanc or ""
        self.port, self.http_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.scp: Any = None
        self._received: list[str] = []
        self._stored: dict[str, bytes] = {}
        self._hold_at = 0
        self._in_flight = threading.Event()
        self._release = threading.Event()

    def env(self) -> dict[str, str]:
        """What a DermBridge process needs to send here."""
        return {
            "DERMBRIDGE_PACS_HOST": "127.0.0.1",
            "DERMBRIDGE_PACS_PORT": str(self.port),
            "DERMBRIDGE_PACS_AE_TITLE": self.ae_title,
            "DERMBRIDGE_PACS_TIMEOUT_SECONDS": "20",
        }

    def start(self) -> None:
        if self.kind == "orthanc":
            self._start_orthanc()
        else:
            self._start_scp()

    def _start_orthanc(self) -> None:
        if not self.binary:
            raise RuntimeError("Orthanc is not installed")
        (self.root / "gate.lua").write_text(ORTHANC_GATE % {"dir": self.root})
        config = {
            "Name": "DermBridgeFaults",
            "StorageDirectory": str(self.root / "db"),
            "IndexDirectory": str(self.root / "db"),
            "HttpPort": self.http_port,
            "DicomPort": self.port,
            "DicomAet": self.ae_title,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "UnknownSopClassAccepted": True,
            "DicomAlwaysAllowStore": True,
            "HttpBindAddress": "127.0.0.1",
            "DicomScpTimeout": 30,
            "LuaScripts": [str(self.root / "gate.lua")],
            "Plugins": [],
        }
        (self.root / "orthanc.json").write_text(json.dumps(config))
        with (self.root / "orthanc.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, str(self.root / "orthanc.json")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"Orthanc exited: {self._log()}")
            return self._orthanc("/system") is not None

        wait_for(up, 60, "Orthanc to answer")

    def _log(self) -> str:
        path = self.root / "orthanc.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""

    def _orthanc(self, path: str) -> Any:
        try:
            url = f"http://127.0.0.1:{self.http_port}{path}"
            with urllib.request.urlopen(url, timeout=10) as answer:
                return json.loads(answer.read())
        except (OSError, ValueError):
            return None

    def _start_scp(self) -> None:
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
        from pynetdicom.sop_class import (  # type: ignore[attr-defined]
            DermoscopicPhotographyImageStorage,
            VLPhotographicImageStorage,
        )

        def on_store(event: Any) -> int:
            uid = str(event.request.AffectedSOPInstanceUID)
            self._received.append(uid)
            # The object has arrived: a PACS stores it (again: it replaces the one it had).
            self._stored[uid] = event.request.DataSet.getvalue()
            if len(self._received) == self._hold_at:
                self._in_flight.set()
                self._release.wait(60)
            return 0x0000

        ae = AE(ae_title=self.ae_title)
        # Every storage class in any transfer syntax (JPEG photographs too), as a PACS takes.
        classes = [c.abstract_syntax for c in StoragePresentationContexts]
        for sop_class in {*classes, DermoscopicPhotographyImageStorage, VLPhotographicImageStorage}:
            ae.add_supported_context(sop_class, ALL_TRANSFER_SYNTAXES)
        ae.network_timeout = ae.dimse_timeout = 30
        self.scp = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
        )

    def hold_at(self, n: int) -> None:
        """Hold the n-th C-STORE received (counted from the start) until ``release``."""
        self._hold_at = n
        if self.kind == "orthanc":
            (self.root / "hold-at").write_text(f"{n}\n")

    def in_flight(self) -> bool:
        if self.kind == "orthanc":
            return (self.root / "in-flight").exists()
        return self._in_flight.is_set()

    def release(self) -> None:
        if self.kind == "orthanc":
            (self.root / "release").touch()
        self._release.set()

    def received(self) -> list[str]:
        """SOP Instance UIDs of every C-STORE that arrived, in order (repeats included)."""
        if self.kind == "orthanc":
            path = self.root / "received.txt"
            return path.read_text().split() if path.exists() else []
        return list(self._received)

    def stored(self) -> list[str]:
        """SOP Instance UIDs of the instances the PACS holds (one entry per instance)."""
        if self.kind == "orthanc":
            uids = []
            for instance in self._orthanc("/instances") or []:
                tags = self._orthanc(f"/instances/{instance}/simplified-tags") or {}
                uids.append(str(tags.get("SOPInstanceUID")))
            return uids
        return list(self._stored)

    def stop(self) -> None:
        self.release()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.scp is not None:
            self.scp.shutdown()
