"""Where the ciphertext lives: the backend protocol, and blobs as files under one root.

The S3 backend is in s3.py.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from dermbridge.imaging.blobstore.errors import BlobNotFound


class BlobBackend(Protocol):
    """Where the ciphertext lives: named byte objects, written atomically."""

    def read(self, name: str) -> bytes: ...
    def write(self, name: str, data: bytes) -> None: ...
    def delete(self, name: str) -> None: ...
    def exists(self, name: str) -> bool: ...
    def names(self, suffix: str) -> Iterator[str]: ...
    def listing(self) -> Iterator[tuple[str, float]]:
        """Every stored name (temporary files included) with its modification time (epoch s)."""
        ...

    def modified(self, name: str) -> float | None:
        """Modification time (epoch s), or None when absent."""
        ...

    def touch(self, name: str) -> None:
        """Set the modification time to now (marks a deduplicated blob as just used)."""
        ...


class FileSystemBackend:
    """Blobs as files under one root; writes go to a temp file in the same folder, then rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(name) from None

    def write(self, name: str, data: bytes) -> None:
        target = self._path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        # The rename is durable only once the directory entry is on disk.
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def names(self, suffix: str) -> Iterator[str]:
        for path in self.root.rglob(f"*{suffix}"):
            if not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def modified(self, name: str) -> float | None:
        try:
            return self._path(name).stat().st_mtime
        except FileNotFoundError:
            return None

    def touch(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._path(name))

    def listing(self) -> Iterator[tuple[str, float]]:
        for path in self.root.rglob("*"):
            with contextlib.suppress(FileNotFoundError):  # removed while listing
                if path.is_file():
                    yield path.relative_to(self.root).as_posix(), path.stat().st_mtime
