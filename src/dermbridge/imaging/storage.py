"""The deployment's encrypted blob store, built once from settings."""

from __future__ import annotations

import base64
import json
import os
from functools import lru_cache

from django.conf import settings

from dermbridge.imaging.blobstore import BlobStore, FileSystemBackend, Keyring, S3Backend


def _generated_keys_spec() -> tuple[str, str]:
    """For the embedded default: a master key generated once under DATA_DIR/keys (mode 0600)."""
    path = settings.DATA_DIR / "keys" / "blob-keys.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = base64.b64encode(os.urandom(32)).decode()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"keys": {"k1": key}, "active": "k1"}))
        tmp.chmod(0o600)
        tmp.rename(path)
    data = json.loads(path.read_text())
    return ",".join(f"{k}:{v}" for k, v in data["keys"].items()), data["active"]


def keyring() -> Keyring:
    if settings.BLOB_KEYS:
        return Keyring.from_config(settings.BLOB_KEYS, settings.BLOB_ACTIVE_KEY or None)
    spec, active = _generated_keys_spec()
    return Keyring.from_config(spec, active)


@lru_cache(maxsize=1)
def blob_store() -> BlobStore:
    if settings.BLOB_BACKEND == "s3":
        backend = S3Backend(settings.S3_BUCKET, endpoint_url=settings.S3_ENDPOINT_URL or None)
        return BlobStore(backend, keyring())
    return BlobStore(FileSystemBackend(settings.BLOB_ROOT), keyring())
