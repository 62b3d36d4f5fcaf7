"""Signed checkpoints of the audit chain, kept where the database's administrator cannot rewrite them.

A seal is one JSON line appended to `AUDIT_SEAL_DIR/seals.jsonl`: for each shard of the chain its
newest event (position and hash), its number of events and where its keyed events begin; when,
on which host, and an HMAC-SHA256 signature under a key derived from the audit key. Someone with full database access but neither
the key nor write access to this file cannot move the chain back past a seal (truncation), nor
rewrite a sealed event, nor move the start of the keyed events (a downgrade to plain sha256).

Production: make the file append-only (`chattr +a`), on a host or volume the database
administrator cannot reach, and set `DERMBRIDGE_AUDIT_SEAL_BUCKET` so that each line is also kept
in an object-store bucket under S3 Object Lock in compliance mode (`audit.seal_copies`), which
verification reads beside the file; see docs/adr/0008-audit-chain.md.

After a key rotation, seals signed with an earlier key (`DERMBRIDGE_AUDIT_PREVIOUS_KEYS`) still
verify; new ones are signed with the current key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from dermbridge.audit import seal_copies
from dermbridge.audit.keys import seal_key, seal_keys_with_retirement

SEAL_FILE = "seals.jsonl"
# How many of the newest seal lines each new seal checks the bucket holds (a failed copy is made
# again with the next seal).
RECOPY_WINDOW = 50
# How far ahead of this host's clock a seal's time may be (another host's clock may run fast).
FUTURE_SKEW = dt.timedelta(minutes=10)
# How long after a rotation a seal signed with the retired key is still accepted (a process on
# another host whose key file had not been replaced yet).
RETIRED_GRACE = dt.timedelta(hours=1)

log = logging.getLogger("dermbridge.audit")


@dataclass(frozen=True)
class Seal:
    """One seal line: for each shard, (last shard_seq, its hash, event count, keyed_from)."""

    line: int
    heads: dict[int, tuple[int, str, int, int | None]]
    at: str


def seal_path() -> Path:
    return Path(settings.AUDIT_SEAL_DIR) / SEAL_FILE


def _sign(fields: dict[str, Any], key: bytes | None = None) -> str:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key or seal_key(), body, hashlib.sha256).hexdigest()


def _signing_key(fields: dict[str, Any], sig: str) -> tuple[bool, dt.datetime | None]:
    """(signed by one of the audit keys, when that key was retired: None if it is current)."""
    for key, retired in seal_keys_with_retirement():
        if hmac.compare_digest(sig, _sign(fields, key)):
            return True, retired
    return False, None


def _last_lines(path: Path, count: int) -> list[str]:
    """The file's last `count` whole lines, read from its end (a seal is well under 4 KB even
    with many shards), never the whole file: it grows by a line a minute for years."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            start = max(0, size - 4096 * count)
            fh.seek(start)
            lines = fh.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    if start > 0 and lines:
        lines = lines[1:]  # it began mid-line
    return [line for line in lines if line.strip()][-count:]


def append_seal(heads: dict[int, tuple[int, str, int, int | None]]) -> bool:
    """Append one signed seal of every shard's tip; False (nothing written) when the newest
    seal already says exactly this."""
    path = seal_path()
    listed = [[shard, *heads[shard]] for shard in sorted(heads)]
    last = next(iter(_last_lines(path, 1)), "")
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
    if seal_copies.enabled():
        _copy_to_bucket(path)
    return True


def _copy_to_bucket(path: Path) -> None:
    """Copy the newest seal lines the locked bucket lacks (this one, and any whose copy failed).
    A failure is logged, never raised: the seal is in the file, and the next seal retries."""
    lines = [line.encode() for line in _last_lines(path, RECOPY_WINDOW)]
    try:
        seal_copies.copy_missing(lines)
    except Exception:
        log.exception("audit seal not copied to the locked bucket; the next seal retries")


def _parse(number: int, raw: str) -> Seal | str:
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
        return "is not a seal"
    signed, retired = _signing_key(fields, str(sig))
    if not signed:
        return "has a signature this audit key did not make"
    if retired is not None and seal_copies.seal_time(seal.at) > retired + RETIRED_GRACE:
        # A retired key signs nothing new: whoever still holds it cannot add seals after it.
        return f"was signed with an audit key retired at {retired.isoformat()}, after that"
    if seal_copies.seal_time(seal.at) > timezone.now() + FUTURE_SKEW:
        # Nothing is sealed ahead of its time: a seal dated later would claim to be the newest.
        return f"is dated {seal.at}, in the future"
    return seal


def read_seals() -> tuple[list[Seal], list[str]]:
    """Every seal in the file, then every seal in the locked bucket that the file lacks (from
    the day of the file's newest seal on; all of them if the file is gone), and a problem for
    each line or object that is not a seal one of the audit keys signed."""
    seals: list[Seal] = []
    problems: list[str] = []
    try:
        text = seal_path().read_text()
    except FileNotFoundError:
        text = ""
    raw_of: dict[int, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parsed = _parse(number, raw)
        if isinstance(parsed, str):
            problems.append(f"seal line {number} {parsed}")
        else:
            seals.append(parsed)
            raw_of[number] = raw
    if seal_copies.enabled():
        known = [raw_of[seal.line].encode() for seal in seals]
        for raw_copy in seal_copies.copies_not_in_file(known):
            parsed = _parse(0, raw_copy.decode(errors="replace"))
            if isinstance(parsed, str):
                problems.append(f"a seal copy in the locked bucket {parsed}")
            else:
                seals.append(parsed)
    return seals, problems
