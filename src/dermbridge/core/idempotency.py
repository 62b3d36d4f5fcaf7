"""Idempotent writes: a retried or double-sent request does its work once.

Two ways in, one store (`core.IdempotencyKey`, unique per user and key):

- REST API and FHIR: the `Idempotency-Key` request header (IETF httpapi draft
  "The Idempotency-Key HTTP Header Field"). The same key and the same request replays the first
  answer; a request still running with that key gets 409; the same key with another request
  (method, path or body) gets 422; a malformed key gets 400 naming the header.
- Web forms: a one-time hidden field (`{% once_token %}`) that the POST consumes; a second POST
  with the same token goes where the first one went instead of acting again.

The key is claimed in its own committed transaction before the view runs, so a concurrent
duplicate sees it in flight. The view then runs in one transaction with the stored answer, holding
the key's row lock: the work and the answer commit together or not at all. A process killed
mid-request therefore leaves a claim with no work done, and since a live request holds the row
lock for as long as it works, a retry that can take that lock knows the claim's owner is gone and
takes it over at once (no waiting for a time-out); one that cannot gets 409. Only 2xx and 4xx
answers other than 409 and 429 are kept (for forms: the redirect after a successful POST);
anything else rolls the request's work back and releases the key so that the client may try
again. See docs/adr/0006-idempotency-keys.md.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import parse_header_parameters
from django_tasks import task

from dermbridge.core.models import IdempotencyKey, KeyKind, KeyState

log = logging.getLogger("dermbridge.idempotency")

HEADER = "Idempotency-Key"
META_HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"
FORM_FIELD = "_once"
MAX_KEY_LENGTH = 255
# The answer headers a replay repeats; the security headers are added again by the middleware
# outside this one, and Date/Vary/Content-Length are the server's own.
REPLAYED_HEADERS = (
    "Content-Type",
    "Location",
    "Content-Location",
    "Content-Disposition",
    "Content-Language",
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Allow",
    "WWW-Authenticate",
)
# Never kept: 409 (the state may change) and 429 (the limit will lift); 5xx releases the key.
NOT_STORED = {409, 429}


class KeyProblem(ValueError):
    """The Idempotency-Key header is empty, too long or not printable ASCII."""


def parse_key(raw: str) -> str:
    """The key from the header value: an sf-string ("...") as the draft says, or a bare token.

    1 to 255 printable ASCII characters; a quoted one may escape \\" and \\\\.
    """
    value = raw.strip(" \t")
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner, out, escaped = value[1:-1], [], False
        for char in inner:
            if escaped:
                if char not in '"\\':
                    raise KeyProblem(f'{HEADER}: only \\" and \\\\ may be escaped in the string.')
                out.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                raise KeyProblem(f'{HEADER}: an unescaped " inside the string.')
            else:
                out.append(char)
        if escaped:
            raise KeyProblem(f"{HEADER}: the string ends in a lone backslash.")
        value = "".join(out)
    if not value:
        raise KeyProblem(f"{HEADER} is empty: send a unique value per request, such as a UUID.")
    if len(value) > MAX_KEY_LENGTH:
        raise KeyProblem(
            f"{HEADER} is {len(value)} characters long; at most {MAX_KEY_LENGTH} are allowed."
        )
    if not all(" " <= char <= "~" for char in value):
        raise KeyProblem(f"{HEADER} may hold printable ASCII characters only.")
    return value


def fingerprint(method: str, path: str, content_type: str, body: bytes) -> str:
    """sha256 of method, path (with query) and body; a multipart body without its boundary, so
    the same upload encoded again by a retrying client still matches."""
    if content_type.startswith("multipart/"):
        _, params = parse_header_parameters(content_type)
        boundary = params.get("boundary", "")
        if boundary:
            body = body.replace(boundary.encode("latin-1", "replace"), b"")
    digest = hashlib.sha256()
    digest.update(method.upper().encode() + b"\n" + path.encode("utf-8", "replace") + b"\n")
    digest.update(body)
    return digest.hexdigest()


def retention() -> timedelta:
    return timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)


@dataclass
class Claim:
    """What a request may do with its key: `claimed` (run the view), `replay` (answer the
    stored response), `in_flight` (409) or `mismatch` (422)."""

    outcome: str
    row: IdempotencyKey | None


def claim(
    user: Any, key: str, *, method: str, path: str, fingerprint: str, kind: str = KeyKind.API
) -> Claim:
    """Claim `key` for `user` in its own transaction, committed before the view runs."""
    row: IdempotencyKey | None = None
    for _ in range(5):
        now = timezone.now()
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    kind=kind,
                    method=method,
                    path=path[:4000],
                    fingerprint=fingerprint,
                    created_at=now,
                    locked_at=now,
                )
            return Claim("claimed", row)
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(user=user, key=key).first()
        if row is None:
            continue  # released (or purged) since: claim it again
        if row.created_at < now - retention():
            # Expired and not yet purged: as good as absent.
            IdempotencyKey.objects.filter(pk=row.pk, created_at=row.created_at).delete()
            continue
        if row.fingerprint != fingerprint:
            return Claim("mismatch", row)
        if row.state == KeyState.DONE:
            return Claim("replay", row)
        state = owner_state(row)
        if state == "gone":
            # Nobody is working on it (its process died, or it has not begun yet): run it. The
            # work re-checks the state under the row lock, so two runners cannot both act.
            IdempotencyKey.objects.filter(pk=row.pk, state=KeyState.IN_FLIGHT).update(locked_at=now)
            return Claim("claimed", row)
        if state == "busy":
            return Claim("in_flight", row)
        # Finished or released while we looked: read it again.
    return Claim("in_flight", row)


def owner_state(row: IdempotencyKey) -> str:
    """'busy' while a request holds the claim's row lock (it is running its view), 'gone' when
    the claim is in flight but nobody holds it, 'changed' when it is no longer in flight.

    PostgreSQL: a NOWAIT row lock tells at once. SQLite: transactions are IMMEDIATE, so this one
    begins only when no other write transaction (a running view) is open; it then sees the
    claim as that request left it."""
    try:
        with transaction.atomic():
            locked = (
                IdempotencyKey.objects.select_for_update(nowait=True)
                .filter(pk=row.pk, state=KeyState.IN_FLIGHT)
                .exists()
            )
    except DatabaseError:  # the row is locked: its request is running
        return "busy"
    return "gone" if locked else "changed"


def should_store(status_code: int, kind: str) -> bool:
    if kind == KeyKind.FORM:
        return 300 <= status_code < 400  # the redirect after a successful POST
    if 200 <= status_code < 300:
        return True
    return 400 <= status_code < 500 and status_code not in NOT_STORED


def store(row: IdempotencyKey, response: HttpResponse) -> bool:
    """Keep the answer (inside the view's transaction); False when it is not to be kept."""
    if response.streaming or not should_store(response.status_code, row.kind):
        return False
    headers = {h: response[h] for h in REPLAYED_HEADERS if h in response}
    IdempotencyKey.objects.filter(pk=row.pk).update(
        state=KeyState.DONE,
        completed_at=timezone.now(),
        status_code=response.status_code,
        response_headers=headers,
        response_body=bytes(response.content) if row.kind == KeyKind.API else b"",
    )
    return True


def release(row: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=row.pk, state=KeyState.IN_FLIGHT).delete()


def replay(row: IdempotencyKey) -> HttpResponse:
    """The stored answer again, marked `Idempotent-Replayed: true`."""
    response = HttpResponse(bytes(row.response_body), status=row.status_code or 200)
    for name, value in (row.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def purge_expired(now: Any = None) -> int:
    """Delete keys older than IDEMPOTENCY_KEY_HOURS; the number deleted."""
    cutoff = (now or timezone.now()) - retention()
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@task()
def purge_idempotency_keys() -> int:
    """Periodic (dermbridge scheduler): delete keys older than IDEMPOTENCY_KEY_HOURS."""
    return purge_expired()
