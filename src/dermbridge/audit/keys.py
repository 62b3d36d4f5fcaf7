"""The audit chain's key: held outside the database, like the blob master keys.

`DERMBRIDGE_AUDIT_KEY` (base64 of 32 bytes) or `DERMBRIDGE_AUDIT_KEY_FILE` (a file holding it:
systemd credentials, Kubernetes secrets); otherwise, in the embedded default, a key generated
once into `DATA_DIR/keys/audit-key` (mode 0600). Whoever can write the database but does not hold
this key cannot recompute the chain's MACs, nor sign a seal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from dermbridge.config import ConfigurationError


def generated_key_path() -> Path:
    return Path(settings.DATA_DIR) / "keys" / "audit-key"


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 32:
        raise ConfigurationError(
            f"{where} must be base64 of at least 32 random bytes "
            '(python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())").'
        )
    return key


def _generated_key() -> bytes:
    path = generated_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = base64.b64encode(secrets.token_bytes(32)).decode()
        # O_EXCL: two processes starting together keep one key, never two.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(text + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    return _decode(path.read_text(), str(path))


@lru_cache(maxsize=1)
def audit_key() -> bytes:
    """The chain key, loaded once per process (`audit_key.cache_clear()` re-reads it)."""
    if settings.AUDIT_KEY:
        return _decode(settings.AUDIT_KEY, "DERMBRIDGE_AUDIT_KEY")
    if settings.AUDIT_KEY_FILE:
        path = Path(settings.AUDIT_KEY_FILE)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigurationError(
                f"DERMBRIDGE_AUDIT_KEY_FILE={path} cannot be read: {exc.strerror}."
            ) from None
        return _decode(text, f"DERMBRIDGE_AUDIT_KEY_FILE ({path})")
    return _generated_key()


def seal_key() -> bytes:
    """A separate key for signing seals, derived from the chain key."""
    return hmac.new(audit_key(), b"dermbridge audit seal v1", hashlib.sha256).digest()
