"""A private PostgreSQL cluster (initdb under a directory of its own, on a free port)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from dermbridge.core.scaled.processes import free_port


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
