"""The deployment's encrypted blob store, built from settings once per process.

Master keys come from DERMBRIDGE_BLOB_KEYS, from the file DERMBRIDGE_BLOB_KEYS_FILE names, or (the
embedded default only) from DATA_DIR/keys/blob-keys.json. A key file is read again when it
changes (its size, time or inode: one stat per use), so a rotation written to the file — a
Kubernetes secret update, a file replaced on each host — reaches every running process at its
next request without a restart; keys in the environment need a restart (README, "Keys").
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any

from django.conf import settings

from dermbridge.imaging.blobstore import (
    BlobStore,
    BlobStoreError,
    FileSystemBackend,
    Keyring,
    S3Backend,
)


def _generated_keys_path() -> Path:
    return Path(settings.DATA_DIR) / "keys" / "blob-keys.json"


def _new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _write_generated_keys(data: dict[str, Any]) -> None:
    """Replace the key file atomically, readable only by the service (mode 0600)."""
    path = _generated_keys_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.chmod(0o600)
    tmp.rename(path)


def _generated_keys() -> dict[str, Any]:
    """For the embedded default: master keys generated under DATA_DIR/keys, the first on first use."""
    path = _generated_keys_path()
    if not path.exists():
        _write_generated_keys({"keys": {"k1": _new_key()}, "active": "k1"})
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def add_generated_key(key_id: str | None = None) -> str:
    """Add a generated master key (next free id unless named), make it active, return its id."""
    data = _generated_keys()
    key_id = key_id or f"k{len(data['keys']) + 1}"
    data["keys"].setdefault(key_id, _new_key())
    data["active"] = key_id
    _write_generated_keys(data)
    return key_id


def _parse_keys(text: str) -> tuple[str, str | None]:
    """``k1:<b64>,k2:<b64>`` or the JSON of a generated key file (``{"keys": .., "active": ..}``)."""
    text = text.strip()
    if not text.startswith("{"):
        return text, None
    try:
        data = json.loads(text)
        spec = ",".join(f"{k}:{v}" for k, v in data["keys"].items())
    except (ValueError, KeyError, AttributeError, TypeError):
        raise BlobStoreError(
            "DERMBRIDGE_BLOB_KEYS(_FILE) holds JSON that is not a key file: use "
            '{"keys": {"k1": "<base64 32 bytes>"}, "active": "k1"} or k1:<base64>,k2:<base64>.'
        ) from None
    active = data.get("active")
    return spec, str(active) if active else None


def keyring() -> Keyring:
    if settings.BLOB_KEYS_SOURCE == "file" and settings.BLOB_KEYS_FILE:
        try:
            text = Path(settings.BLOB_KEYS_FILE).read_text()  # now, not at start: rotations
        except OSError as exc:
            raise BlobStoreError(
                f"DERMBRIDGE_BLOB_KEYS_FILE={settings.BLOB_KEYS_FILE!r} cannot be read "
                f"({exc.strerror})."
            ) from None
        spec, active = _parse_keys(text)
        return Keyring.from_config(spec, settings.BLOB_ACTIVE_KEY or active)
    if settings.BLOB_KEYS:
        spec, active = _parse_keys(settings.BLOB_KEYS)
        return Keyring.from_config(spec, settings.BLOB_ACTIVE_KEY or active)
    data = _generated_keys()
    spec = ",".join(f"{k}:{v}" for k, v in data["keys"].items())
    return Keyring.from_config(spec, data["active"])


def _key_file_version() -> tuple[int, int, int] | None:
    """What identifies the current contents of the key file in use (None: keys in the env)."""
    if settings.BLOB_KEYS_SOURCE == "file" and settings.BLOB_KEYS_FILE:
        path = Path(settings.BLOB_KEYS_FILE)
    elif settings.BLOB_KEYS:
        return None
    else:
        path = _generated_keys_path()
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _s3_backend() -> S3Backend:
    from dermbridge.core.s3 import client_kwargs  # endpoint, region, addressing style

    return S3Backend(settings.S3_BUCKET, prefix=settings.S3_PREFIX, **client_kwargs())


def _build() -> BlobStore:
    if settings.BLOB_BACKEND == "s3":
        return BlobStore(_s3_backend(), keyring())
    return BlobStore(FileSystemBackend(settings.BLOB_ROOT), keyring())


class _BlobStoreCache:
    """``blob_store()``: one BlobStore per process, rebuilt when the key file changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: BlobStore | None = None
        self._version: tuple[int, int, int] | None = None

    def __call__(self) -> BlobStore:
        version = _key_file_version()
        store = self._store
        if store is not None and version == self._version:
            return store
        with self._lock:
            version = _key_file_version()
            if self._store is None or version != self._version:
                # The version seen before reading the keys: a file changed while they are read
                # (or first written by _build) only causes one more rebuild, never a stale ring.
                self._store, self._version = _build(), version
            return self._store

    def cache_clear(self) -> None:
        with self._lock:
            self._store, self._version = None, None


blob_store = _BlobStoreCache()
