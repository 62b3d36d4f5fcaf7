"""`dermbridge backup DEST` and `dermbridge restore SRC`: a consistent copy of one instance.

A backup is a folder:

* ``database.sqlite3`` (SQLite's online backup API: one consistent snapshot while the service
  runs) or ``database.pgdump`` (``pg_dump -Fc`` of an exported snapshot);
* ``blobs/``: the encrypted blob store's files, copied after the database snapshot (filesystem
  backend), or ``blobs-s3.json``: the bucket's object keys with their versions and ETags (S3);
* ``manifest.json``: format, DermBridge version, time, the row count of every table and the
  applied migrations (both read from the snapshot itself), the size and sha256 of every file,
  any blob the snapshot names that could not be copied, and where the keys live;
* ``keys/`` only with ``--include-keys``: the blob master keys and the secret key. Without it the
  backup holds ciphertext only, useless to whoever takes it; the keys go to escrow separately.

Restoring needs an empty database (no tables) and an empty blob store; it checks every file's
sha256 first, and compares the restored row counts with the manifest.

The package: ``common`` (file names, BackupError, hashing), ``database`` (snapshot, dump and
restore of SQLite or PostgreSQL), ``blobs`` (filesystem copy, S3 listing), ``keys`` (escrow,
``--include-keys``, putting keys back), ``create`` (``backup()``) and ``restoring``
(``restore()``).
"""

from __future__ import annotations

from .common import (
    BLOBS_DIR,
    FORMAT,
    KEYS_DIR,
    MANIFEST,
    PG_FILE,
    S3_MANIFEST,
    SQLITE_FILE,
    BackupError,
    Progress,
    sha256_file,
)
from .create import backup
from .database import Snapshot
from .keys import KEY_ESCROW, key_fingerprint
from .restoring import RestoreResult, read_manifest, restore, verify_files

__all__ = [
    "BLOBS_DIR",
    "FORMAT",
    "KEYS_DIR",
    "KEY_ESCROW",
    "MANIFEST",
    "PG_FILE",
    "S3_MANIFEST",
    "SQLITE_FILE",
    "BackupError",
    "Progress",
    "RestoreResult",
    "Snapshot",
    "backup",
    "key_fingerprint",
    "read_manifest",
    "restore",
    "sha256_file",
    "verify_files",
]
