"""What every part of a backup shares: the folder's file names, the error, file hashing."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

FORMAT = "dermbridge-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
BLOBS_DIR = "blobs"
S3_MANIFEST = "blobs-s3.json"
KEYS_DIR = "keys"
_CHUNK = 1024 * 1024
_ADDRESS_FILE = re.compile(r"^([0-9a-f]{64})\.")


class BackupError(Exception):
    """The backup or restore cannot go on; the message names the problem and what to do."""


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashed(src: Path, dst: Path) -> tuple[int, str]:
    """Copy one file, hashing as it goes; (size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as reader, dst.open("wb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
    shutil.copystat(src, dst)  # keep modification times: blobs-gc's grace period reads them
    return size, digest.hexdigest()
