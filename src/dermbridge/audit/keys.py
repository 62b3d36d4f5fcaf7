"""The audit chain's key: held outside the database, like the blob master keys.

`DERMBRIDGE_AUDIT_KEY` (base64 of 32 bytes) or `DERMBRIDGE_AUDIT_KEY_FILE` (a file holding it:
systemd credentials, Kubernetes secrets); otherwise, in the embedded default, a key generated
once into `DATA_DIR/keys/audit-key` (mode 0600). Whoever can write the database but does not hold
this key cannot recompute the chain's MACs, nor sign a seal.

Rotation: the keys used before the current one are listed in `DERMBRIDGE_AUDIT_PREVIOUS_KEYS`
(or `_FILE`), so events and seals made with them still verify; new ones use the current key.
Key files are re-read when they change (`dermbridge audit-rotate-key` writes both).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
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


def _read_file(path: Path, name: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigurationError(f"{name}={path} cannot be read: {exc.strerror}.") from None


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    """When and what a key file last changed to (None: no file, or none readable)."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True)
class KeyRing:
    """The current key, which new events and seals are made with, and the keys the chain was
    written with before a rotation, which verification still accepts."""

    current: bytes
    previous: tuple[bytes, ...] = ()
    # When each previous key was retired (written by `audit-rotate-key` as "retired=<time>" after
    # the key); None for a key listed without one.
    retired: tuple[dt.datetime | None, ...] = ()

    @property
    def all(self) -> tuple[bytes, ...]:
        return (self.current, *self.previous)

    def retired_at(self, key: bytes) -> dt.datetime | None:
        if key == self.current or key not in self.previous:
            return None
        index = self.previous.index(key)
        return self.retired[index] if index < len(self.retired) else None


def key_id(key: bytes) -> str:
    """A short public name for a key (never the key): printed by the rotation, shown in docs."""
    return hashlib.sha256(b"dermbridge audit key id\0" + key).hexdigest()[:12]


def current_key_file() -> Path | None:
    """The file the current key is read from (None: it is given in the environment)."""
    if settings.AUDIT_KEY:
        return None
    return Path(settings.AUDIT_KEY_FILE) if settings.AUDIT_KEY_FILE else generated_key_path()


def previous_keys_file() -> Path | None:
    """The file listing the keys before the current one (None: they are in the environment)."""
    if settings.AUDIT_PREVIOUS_KEYS:
        return None
    if settings.AUDIT_PREVIOUS_KEYS_FILE:
        return Path(settings.AUDIT_PREVIOUS_KEYS_FILE)
    if not settings.AUDIT_KEY and not settings.AUDIT_KEY_FILE:
        return Path(settings.DATA_DIR) / "keys" / "audit-previous-keys"
    return None


def _load() -> KeyRing:
    if settings.AUDIT_KEY:
        current = _decode(settings.AUDIT_KEY, "DERMBRIDGE_AUDIT_KEY")
    elif settings.AUDIT_KEY_FILE:
        path = Path(settings.AUDIT_KEY_FILE)
        current = _decode(
            _read_file(path, "DERMBRIDGE_AUDIT_KEY_FILE"), f"DERMBRIDGE_AUDIT_KEY_FILE ({path})"
        )
    else:
        current = _generated_key()
    text, where = settings.AUDIT_PREVIOUS_KEYS, "DERMBRIDGE_AUDIT_PREVIOUS_KEYS"
    listed = previous_keys_file()
    if listed is not None and listed.exists():  # none yet before the first rotation
        text = _read_file(listed, "DERMBRIDGE_AUDIT_PREVIOUS_KEYS_FILE")
        where = f"the previous audit keys ({listed})"
    previous: list[bytes] = []
    retired: list[dt.datetime | None] = []
    for part in text.replace(",", " ").split():
        if part.startswith("retired="):
            if previous and previous[-1] != current:
                retired[-1] = _retired_time(part.removeprefix("retired="), where)
            continue
        key = _decode(part, where)
        previous.append(key)
        retired.append(None)
    kept = [(k, r) for k, r in zip(previous, retired, strict=True) if k != current]
    return KeyRing(current, tuple(k for k, _ in kept), tuple(r for _, r in kept))


def _retired_time(text: str, where: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(
            f"{where}: 'retired={text}' is not a date and time (ISO 8601, as "
            "dermbridge audit-rotate-key writes it)."
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


class _Cache:
    """The key ring, loaded once per process and again when a setting or a key file changes: a
    rotation (`dermbridge audit-rotate-key`, or new files from configuration management) is
    picked up at each process's next audited event, with no restart. Keys given in environment
    variables need a restart (docs/deploy.md)."""

    def __init__(self) -> None:
        self._ring: KeyRing | None = None
        self._stamp: tuple[object, ...] = ()

    def ring(self) -> KeyRing:
        key_file, previous_file = current_key_file(), previous_keys_file()
        stamp = (
            settings.AUDIT_KEY,
            settings.AUDIT_PREVIOUS_KEYS,
            key_file,
            _stamp(key_file),
            previous_file,
            _stamp(previous_file),
        )
        if self._ring is None or stamp != self._stamp:
            self._ring = _load()
            self._stamp = stamp
        return self._ring

    def cache_clear(self) -> None:
        self._ring = None


_cache = _Cache()


def key_ring() -> KeyRing:
    return _cache.ring()


class _AuditKey:
    """`audit_key()`: the current chain key (`audit_key.cache_clear()` forgets every key)."""

    def __call__(self) -> bytes:
        return _cache.ring().current

    def cache_clear(self) -> None:
        _cache.cache_clear()


audit_key = _AuditKey()


def _seal_key_from(key: bytes) -> bytes:
    return hmac.new(key, b"dermbridge audit seal v1", hashlib.sha256).digest()


def seal_key() -> bytes:
    """A separate key for signing seals, derived from the chain key."""
    return _seal_key_from(audit_key())


def seal_keys_with_retirement() -> tuple[tuple[bytes, dt.datetime | None], ...]:
    """Each seal key with the time its audit key was retired (None: the current key, or a
    previous key listed without a time)."""
    ring = key_ring()
    return tuple((_seal_key_from(key), ring.retired_at(key)) for key in ring.all)
