"""Appending to, sealing and verifying the audit chain (docs/adr/0008-audit-chain.md).

`record()` must be called inside the transaction that does the work it describes, so the event
exists exactly when the work does. Appends are serialised by locking the single AuditHead row,
which is held until that transaction commits: keep it short. Record after slow work (blob I/O,
image decoding), never before it; a service doing several slow steps that each record wraps them
in `batched()`, which holds the events back and appends them together on leaving the block, still
inside the transaction.

Events are HMAC-SHA256 under the audit key (dermbridge.audit.keys), from `AuditHead.keyed_from`
on; older events keep their plain sha256. `seal_chain()` appends a signed checkpoint outside the
database (dermbridge.audit.seals); `verify_chain()` checks every event and every seal.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from dermbridge.audit import seals
from dermbridge.audit.context import current
from dermbridge.audit.keys import audit_key
from dermbridge.audit.models import GENESIS_HASH, AuditEvent, AuditHead

# Events held back by `batched()` (None outside one).
_pending: contextvars.ContextVar[list[AuditEvent] | None] = contextvars.ContextVar(
    "dermbridge_audit_pending", default=None
)


def record(
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    *,
    organisation_id: int | None = None,
    object_type: str = "",
    object_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. `actor` is a User, or None for the system (tasks, patient links).

    Inside `batched()` the event is appended when the block ends (its seq and hash are filled in
    then, on the same object)."""
    ctx = current.get()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    event = AuditEvent(
        at=timezone.now(),
        actor_id=getattr(actor, "pk", None),
        actor_label=(getattr(actor, "username", "") or "system")[:150],
        organisation_id=organisation_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        request_id=ctx.request_id,
        client_address=ctx.client_address,
        detail=detail or {},
    )
    pending = _pending.get()
    if pending is not None:
        pending.append(event)
    else:
        _append([event])
    return event


@contextmanager
def batched() -> Iterator[None]:
    """Hold back the events recorded in this block and append them together at its end.

    For a transaction that interleaves slow work with events (several uploads, a FHIR import):
    the chain's lock is then taken once, after the slow work, instead of at the first event and
    held across the rest. Use it inside the transaction; nothing is appended if the block raises.
    """
    if _pending.get() is not None:  # nested: the outer block appends
        yield
        return
    events: list[AuditEvent] = []
    token = _pending.set(events)
    try:
        yield
    finally:
        _pending.reset(token)
    if events:
        _append(events)


def _lock_head(cursor: Any) -> tuple[int, str, int, int | None]:
    sql = "SELECT last_seq, last_hash, count, keyed_from FROM audit_audithead WHERE id = 1"
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    cursor.execute(sql)
    row = cursor.fetchone()
    if row is None:
        AuditHead.objects.get_or_create(id=1)
        cursor.execute(sql)
        row = cursor.fetchone()
    return int(row[0]), str(row[1]), int(row[2]), None if row[3] is None else int(row[3])


def _append(events: list[AuditEvent]) -> None:
    """Chain and insert `events` under the head's lock: one locking read, one insert, one update."""
    key = audit_key()
    with transaction.atomic(), connection.cursor() as cursor:
        last_seq, last_hash, count, keyed_from = _lock_head(cursor)
        switched = keyed_from is None
        start = last_seq + 1 if keyed_from is None else keyed_from
        for event in events:
            last_seq += 1
            event.seq, event.prev_hash = last_seq, last_hash
            event.hash = last_hash = event.compute_hash(key)
        AuditEvent.objects.bulk_create(events)
        cursor.execute(
            "UPDATE audit_audithead SET last_seq = %s, last_hash = %s, count = %s, "
            "keyed_from = %s WHERE id = 1",
            [last_seq, last_hash, count + len(events), start],
        )
        if switched:
            # Pin where keyed events begin outside the database at once: otherwise someone who
            # moved `keyed_from` forward could re-hash the early keyed events with plain sha256.
            pin = (start - 1, events[0].prev_hash, count, start)
            transaction.on_commit(lambda: seals.append_seal(*pin))


def latest_event(obj: models.Model, actions: list[str] | tuple[str, ...]) -> AuditEvent | None:
    """The newest event about `obj` among `actions` (e.g. the last PACS send of a referral)."""
    return (
        AuditEvent.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk), action__in=actions
        )
        .order_by("-seq")
        .first()
    )


def seal_chain() -> bool:
    """Append a signed seal of the chain's committed tip; False when the last seal says the same."""
    head = AuditHead.objects.filter(id=1).first()
    if head is None:
        return False
    return seals.append_seal(head.last_seq, head.last_hash, head.count, head.keyed_from)


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    seals: int = 0


def verify_chain(batch_size: int = 5000) -> Verification:
    """Walk the chain in order and report the first event that was altered, inserted or removed,
    then hold the chain to every seal: a sealed event rewritten, or events removed from the end
    (the newest seal names an event the database no longer has), or keyed events downgraded."""
    head = AuditHead.objects.filter(id=1).first()
    last_seq_at_start = head.last_seq if head is not None else 0
    keyed_from = head.keyed_from if head is not None else None
    sealed, seal_problems = seals.read_seals()
    if seal_problems:
        return Verification(False, 0, None, seal_problems[0], len(sealed))
    sealed_starts = {s.keyed_from for s in sealed if s.keyed_from is not None}
    if len(sealed_starts) > 1 or (sealed_starts and sealed_starts != {keyed_from}):
        first = min(sealed_starts)
        return Verification(
            False,
            0,
            first,
            f"the chain is keyed from event #{first} according to the seals, but the head says "
            f"{'#' + str(keyed_from) if keyed_from else 'it is not keyed'}",
            len(sealed),
        )
    sealed_hash = {s.seq: s.hash for s in sealed}
    key = audit_key()
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    last_seq = 0
    qs = AuditEvent.objects.filter(seq__lte=last_seq_at_start).order_by("seq")
    for event in qs.iterator(chunk_size=batch_size):
        bad = _check_event(event, expected_seq, expected_prev, keyed_from, key, sealed_hash)
        if bad is not None:
            return Verification(False, checked, bad[0], bad[1], len(sealed))
        expected_prev, expected_seq, last_seq = event.hash, event.seq + 1, event.seq
        checked += 1
    if head is not None and (head.last_seq != last_seq or head.last_hash != expected_prev):
        return Verification(
            False,
            checked,
            last_seq + 1,
            f"events after #{last_seq} were removed (the chain head records #{head.last_seq})",
            len(sealed),
        )
    if head is not None and head.count != checked:
        return Verification(
            False, checked, None, "the number of events does not match the head", len(sealed)
        )
    newest = max(sealed, key=lambda s: s.seq, default=None)
    if newest is not None and newest.seq > last_seq:
        return Verification(
            False,
            checked,
            last_seq + 1,
            f"events after #{last_seq} were removed: the seal of {newest.at} "
            f"(line {newest.line}) records #{newest.seq}",
            len(sealed),
        )
    beyond = AuditEvent.objects.filter(seq__gt=last_seq).values_list("seq", flat=True).first()
    if beyond is not None:
        fresh = AuditHead.objects.filter(id=1).values_list("last_seq", flat=True).first() or 0
        if beyond > fresh:
            return Verification(
                False,
                checked,
                beyond,
                f"event #{beyond} was inserted beyond the chain head (#{fresh})",
                len(sealed),
            )
    return Verification(True, checked, None, "", len(sealed))


def _check_event(
    event: AuditEvent,
    expected_seq: int,
    expected_prev: str,
    keyed_from: int | None,
    key: bytes,
    sealed_hash: dict[int, str],
) -> tuple[int, str] | None:
    if event.seq != expected_seq:
        return expected_seq, f"event #{expected_seq} is missing (next is #{event.seq})"
    if event.prev_hash != expected_prev:
        return event.seq, f"event #{event.seq} does not follow the previous event"
    keyed = keyed_from is not None and event.seq >= keyed_from
    if event.compute_hash(key if keyed else None) != event.hash:
        return event.seq, f"event #{event.seq} was altered" + (
            " (or the audit key is not the one it was written with)" if keyed else ""
        )
    if event.seq in sealed_hash and sealed_hash[event.seq] != event.hash:
        return event.seq, f"event #{event.seq} is not the event that was sealed"
    return None
