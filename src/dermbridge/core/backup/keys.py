"""The keys: where the blob master keys, the secret key and the audit key live, their escrow
advice and fingerprints for the manifest, the ``--include-keys`` copy, putting them back on
restore, and checking that the restored service can read its photos."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

from .common import KEYS_DIR

KEY_ESCROW = (
    "This backup holds encrypted photos only. To read them, the restored service needs the blob "
    "master keys (DERMBRIDGE_BLOB_KEYS, or the generated file <DATA_DIR>/keys/blob-keys.json) "
    "and the secret key (DERMBRIDGE_SECRET_KEY, or <DATA_DIR>/secret_key: patient links, "
    "sessions and password resets depend on it), and the audit key (DERMBRIDGE_AUDIT_KEY, or "
    "<DATA_DIR>/keys/audit-key: without it `audit-verify` cannot check the keyed audit chain). "
    "Keep them in key escrow, never beside the "
    "backups: e.g. a password manager or HSM controlled by two named people, or sealed paper "
    "copies in two places. Escrow them again whenever a key is added (dermbridge rotate-keys). "
    "To restore: put blob-keys.json and audit-key in <DATA_DIR>/keys/ (mode 600) and secret_key "
    "in <DATA_DIR>/ (or set the environment variables) before or after `dermbridge restore`."
)


def _key_spec() -> tuple[str, dict[str, str]]:
    """(where the blob keys live, {key id: base64 key})."""
    if settings.BLOB_KEYS:
        keys = {}
        for item in filter(None, (p.strip() for p in settings.BLOB_KEYS.split(","))):
            key_id, _, encoded = item.partition(":")
            keys[key_id.strip()] = encoded.strip()
        return "environment variable DERMBRIDGE_BLOB_KEYS", keys
    path = Path(settings.DATA_DIR) / "keys" / "blob-keys.json"
    if not path.exists():
        return f"{path} (not created yet: no photo stored)", {}
    return str(path), dict(json.loads(path.read_text())["keys"])


def key_fingerprint(encoded: str) -> str:
    """A non-secret fingerprint of a key, to check that the escrowed key is the right one."""
    return hashlib.sha256(b"dermbridge-key-fingerprint:" + encoded.encode()).hexdigest()[:16]


def _secret_key_source() -> str:
    if os.environ.get("DERMBRIDGE_SECRET_KEY"):
        return "environment variable DERMBRIDGE_SECRET_KEY"
    return str(Path(settings.DATA_DIR) / "secret_key")


def _copy_keys(dest: Path) -> list[str]:
    keys_dir = dest / KEYS_DIR
    keys_dir.mkdir(mode=0o700)
    written = []
    generated = Path(settings.DATA_DIR) / "keys" / "blob-keys.json"
    if settings.BLOB_KEYS:
        env_file = keys_dir / "blob-keys.env"
        env_file.write_text(
            f"DERMBRIDGE_BLOB_KEYS={settings.BLOB_KEYS}\n"
            f"DERMBRIDGE_BLOB_ACTIVE_KEY={settings.BLOB_ACTIVE_KEY}\n"
        )
        written.append(env_file.name)
    elif generated.exists():
        shutil.copyfile(generated, keys_dir / "blob-keys.json")
        written.append("blob-keys.json")
    (keys_dir / "secret_key").write_text(settings.SECRET_KEY)
    written.append("secret_key")
    audit_key = Path(settings.DATA_DIR) / "keys" / "audit-key"
    if not (settings.AUDIT_KEY or settings.AUDIT_KEY_FILE) and audit_key.exists():
        shutil.copyfile(audit_key, keys_dir / "audit-key")
        written.append("audit-key")
    for name in written:
        (keys_dir / name).chmod(0o600)
    return [f"{KEYS_DIR}/{name}" for name in written]


def _restore_keys(src: Path, manifest: dict[str, Any], warnings: list[str]) -> None:
    data_dir = Path(settings.DATA_DIR)
    keys_dir = src / KEYS_DIR
    if (keys_dir / "blob-keys.json").exists() and not settings.BLOB_KEYS:
        target = data_dir / "keys" / "blob-keys.json"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(keys_dir / "blob-keys.json", target)
        target.chmod(0o600)
    if (keys_dir / "blob-keys.env").exists() and not settings.BLOB_KEYS:
        warnings.append(
            f"The blob keys were set in the environment: set the variables in "
            f"{keys_dir / 'blob-keys.env'} for the restored service."
        )
    if (keys_dir / "audit-key").exists() and not (settings.AUDIT_KEY or settings.AUDIT_KEY_FILE):
        target = data_dir / "keys" / "audit-key"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(keys_dir / "audit-key", target)
        target.chmod(0o600)
    if (keys_dir / "secret_key").exists():
        if os.environ.get("DERMBRIDGE_SECRET_KEY"):
            warnings.append("DERMBRIDGE_SECRET_KEY is set: the backup's secret key was not used.")
        else:
            target = data_dir / "secret_key"
            target.write_text((keys_dir / "secret_key").read_text())
            target.chmod(0o600)


def _check_keys(manifest: dict[str, Any], referenced: set[str], warnings: list[str]) -> None:
    """Can the restored service read its photos? Never generates a key to find out."""
    wanted = manifest["keys"].get("blob_key_fingerprints", {})
    if not wanted:
        return
    if (
        not settings.BLOB_KEYS
        and not (Path(settings.DATA_DIR) / "keys" / "blob-keys.json").exists()
    ):
        warnings.append(
            "NOT READY: no blob keys here. Photos cannot be read until the escrowed keys are put "
            f"back: {Path(settings.DATA_DIR) / 'keys' / 'blob-keys.json'} (mode 600) or "
            f"DERMBRIDGE_BLOB_KEYS (ids {', '.join(sorted(wanted))})."
        )
        return
    _, keys = _key_spec()
    have = {k: key_fingerprint(v) for k, v in keys.items()}
    wrong = [k for k, fp in wanted.items() if have.get(k) != fp]
    if wrong:
        warnings.append(
            f"NOT READY: blob key(s) {', '.join(wrong)} are missing or differ from the ones this "
            "backup was made with: put the escrowed keys back."
        )
        return
    from dermbridge.imaging.storage import blob_store

    store = blob_store()
    for address in sorted(referenced)[:3]:
        store.get(address)  # raises BlobCorrupt/BlobNotFound: the caller reports it
