"""Signed checkpoints of the audit chain, kept where the database's administrator cannot rewrite them.

A seal is one JSON line appended to `AUDIT_SEAL_DIR/seals.jsonl`: for each shard of the chain its
newest event (position and hash), its number of events and where its keyed events begin; when,
on which host, and an HMAC-SHA256 signature under a key derived from the audit key. Someone with full database access but neither
the key nor write access to this file cannot move the chain back past a seal (truncation), nor
rewrite a sealed event, nor move the start of the keyed events (a downgrade to plain sha256).

Production: make the file append-only (`chattr +a`), on a host or volume the database
administrator cannot reach, or copy each line to an object-store bucket with a retention lock
(S3 Object Lock in compliance mode); see docs/adr/0008-audit-chain.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from dermbridge.audit.keys import seal_key

SEAL_FILE = "seals.jsonl"


@dataclass(frozen=True)
class Seal:
    """One seal line: for each shard, (last shard_seq, its hash, event count, keyed_from)."""

    line: int
    heads: dict[int, tuple[int, str, int, int | None]]
    at: str


def seal_path() -> Path:
    return Path(settings.AUDIT_SEAL_DIR) / SEAL_FILE


def _sign(fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(seal_key(), body, hashlib.sha256).hexdigest()


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            tail = fh.read().decode(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return tail[-1] if tail else ""


def append_seal(heads: dict[int, tuple[int, str, int, int | None]]) -> bool:
    """Append one signed seal of every shard's tip; False (nothing written) when the newest
    seal already says exactly this."""
    path = seal_path()
    listed = [[shard, *heads[shard]] for shard in sorted(heads)]
    last = _last_line(path)
    if last:
        try:
            if json.loads(last).get("heads") == listed:
                return False
        except (ValueError, AttributeError):
            pass  # a damaged last line: append a good one; verification reports the bad one
    fields: dict[str, Any] = {
        "v": 2,
        "heads": listed,
        "at": timezone.now().isoformat(),
        "host": socket.gethostname(),
    }
    fields["sig"] = _sign(fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n").encode()
    # O_APPEND: concurrent sealers (several hosts' schedulers, audit-verify) never interleave
    # within one write; fsync so a power cut cannot lose a seal already reported.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def read_seals() -> tuple[list[Seal], list[str]]:
    """Every seal in the file, and a problem for each line that is not a seal this key signed."""
    seals: list[Seal] = []
    problems: list[str] = []
    try:
        text = seal_path().read_text()
    except FileNotFoundError:
        return seals, problems
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            fields = json.loads(raw)
            sig = fields.pop("sig")
            seal = Seal(
                number,
                {
                    int(h[0]): (
                        int(h[1]),
                        str(h[2]),
                        int(h[3]),
                        None if h[4] is None else int(h[4]),
                    )
                    for h in fields["heads"]
                },
                str(fields["at"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            problems.append(f"seal line {number} is not a seal")
            continue
        if not hmac.compare_digest(str(sig), _sign(fields)):
            problems.append(f"seal line {number} has a signature this audit key did not make")
            continue
        seals.append(seal)
    return seals, problems
