"""A copy of every audit seal in an S3 bucket with Object Lock, where nobody can rewrite it.

The seal file (`audit.seals`) is append-only only as far as its host's permissions go: whoever
administers that host can truncate it. With `DERMBRIDGE_AUDIT_SEAL_BUCKET` set, each seal line is
also PUT, byte for byte, as one object under `DERMBRIDGE_AUDIT_SEAL_PREFIX`, with a retention in
Object Lock's *compliance* mode (`DERMBRIDGE_AUDIT_SEAL_RETENTION_DAYS`, 8 years by default):
until it ends, no account, the bucket's owner included, can delete or overwrite that version.
A later PUT of the same name only adds a version; verification reads every version.

Object names sort by time (`<prefix>YYYY/MM/DD/HHMMSS.ffffff-<sha256 of the line>.json`), so that
verification lists only the days after the seal file's newest line, not eight years of seals.
The bucket must be created with Object Lock enabled (`aws s3api create-bucket
--object-lock-enabled-for-bucket`); `audit-verify` says so when it is not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.utils import timezone

log = logging.getLogger("dermbridge.audit")


def enabled() -> bool:
    return bool(settings.AUDIT_SEAL_BUCKET)


def _client() -> Any:
    from dermbridge.core.s3 import s3_client

    return s3_client()


def _root() -> str:
    prefix = settings.AUDIT_SEAL_PREFIX.strip("/")
    return f"{prefix}/" if prefix else ""


def _day_prefix(day: dt.date) -> str:
    return f"{_root()}{day:%Y/%m/%d}/"


def seal_time(at: str) -> dt.datetime:
    """A seal's `at` as an aware UTC time (now, for a line too damaged to say)."""
    try:
        when = dt.datetime.fromisoformat(at)
    except (ValueError, TypeError):
        return timezone.now().astimezone(dt.UTC)
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _when(line: bytes) -> dt.datetime:
    try:
        at = json.loads(line)["at"]
    except (ValueError, KeyError, TypeError):
        at = ""
    return seal_time(at)


def object_name(line: bytes) -> str:
    """The object a seal line is kept as: its day, its time, and the sha256 of its bytes."""
    line = line.rstrip(b"\n")
    at = _when(line)
    digest = hashlib.sha256(line).hexdigest()
    return f"{_day_prefix(at.date())}{at:%H%M%S.%f}-{digest}.json"


def put_copy(line: bytes, client: Any = None) -> None:
    """Store one seal line in the bucket under a compliance-mode retention (raises on failure)."""
    line = line.rstrip(b"\n")
    client = client or _client()
    until = timezone.now() + dt.timedelta(days=settings.AUDIT_SEAL_RETENTION_DAYS)
    client.put_object(
        Bucket=settings.AUDIT_SEAL_BUCKET,
        Key=object_name(line),
        Body=line,
        ContentType="application/json",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
        ChecksumAlgorithm="SHA256",
    )


def _subfolders(client: Any, prefix: str) -> list[str]:
    """The 'folders' directly under a prefix (S3 lists them with a delimiter, one call a page)."""
    found: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.AUDIT_SEAL_BUCKET, Prefix=prefix, Delimiter="/"):
        found.extend(item["Prefix"] for item in page.get("CommonPrefixes", []))
    return found


def _day_prefixes(client: Any, since: dt.datetime | None) -> list[str]:
    """The day folders that exist, from the day of `since` on (all when None): found by
    walking years, then months, then days, so a bucket of eight years costs a few dozen calls."""
    root = _root()
    first = _day_prefix(since.date()) if since is not None else root
    days: list[str] = []
    for year in _subfolders(client, root):
        if year < first[: len(year)]:
            continue
        for month in _subfolders(client, year):
            if month < first[: len(month)]:
                continue
            days.extend(day for day in _subfolders(client, month) if day >= first[: len(day)])
    return days


def _versions(client: Any, prefix: str) -> Iterator[tuple[str, str]]:
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=settings.AUDIT_SEAL_BUCKET, Prefix=prefix):
        for version in page.get("Versions", []):
            yield version["Key"], version["VersionId"]


def copies_not_in_file(known: Iterable[bytes]) -> list[bytes]:
    """Every version of every seal copy newer than the newest one the seal file also holds,
    walking the bucket's day folders from the newest back (all of them when the file holds
    none). The bucket, not the file, says where to start: a file cut back, or given a seal
    dated later than the real ones, cannot move the walk past the copies it lost."""
    client = _client()
    known_names = {object_name(line) for line in known}
    found: list[bytes] = []
    for day in reversed(_day_prefixes(client, None)):
        met_the_file = False
        for name, version in sorted(_versions(client, day), reverse=True):
            if name in known_names:
                met_the_file = True
                continue
            body = client.get_object(
                Bucket=settings.AUDIT_SEAL_BUCKET, Key=name, VersionId=version
            )["Body"].read()
            found.append(bytes(body))
        if met_the_file:
            break
    return found


def missing_copies(lines: list[bytes]) -> list[bytes]:
    """The seal file's lines (from the newest back, over the days they cover) that the bucket
    does not hold: a PUT that failed when the seal was made."""
    if not lines:
        return []
    client = _client()
    held: set[str] = set()
    for day in sorted({_when(line).date() for line in lines}):
        held.update(name for name, _ in _versions(client, _day_prefix(day)))
    return [line for line in lines if object_name(line) not in held]


def copy_missing(lines: list[bytes]) -> int:
    """PUT every line the bucket lacks; how many were copied."""
    missing = missing_copies(lines)
    client = _client() if missing else None
    for line in missing:
        put_copy(line, client)
    return len(missing)


def lock_problem() -> str | None:
    """Why the bucket would not keep the seals safe (None when Object Lock is on)."""
    try:
        config = _client().get_object_lock_configuration(Bucket=settings.AUDIT_SEAL_BUCKET)
    except Exception as exc:  # botocore ClientError; boto3 is optional
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        return (
            f"the seal bucket {settings.AUDIT_SEAL_BUCKET} has no Object Lock ({code}): create "
            "it with Object Lock enabled, or seals kept there can be deleted"
        )
    if config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
        return f"Object Lock is not enabled on the seal bucket {settings.AUDIT_SEAL_BUCKET}"
    return None
