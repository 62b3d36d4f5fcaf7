"""The deployment's encrypted blob store, built once from settings."""

from __future__ import annotations

import base64
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from dermbridge.imaging.blobstore import BlobStore, FileSystemBackend, Keyring, S3Backend


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


def keyring() -> Keyring:
    if settings.BLOB_KEYS:
        return Keyring.from_config(settings.BLOB_KEYS, settings.BLOB_ACTIVE_KEY or None)
    data = _generated_keys()
    spec = ",".join(f"{k}:{v}" for k, v in data["keys"].items())
    return Keyring.from_config(spec, data["active"])


@lru_cache(maxsize=1)
def blob_store() -> BlobStore:
    if settings.BLOB_BACKEND == "s3":
        backend = S3Backend(settings.S3_BUCKET, endpoint_url=settings.S3_ENDPOINT_URL or None)
        return BlobStore(backend, keyring())
    return BlobStore(FileSystemBackend(settings.BLOB_ROOT), keyring())
