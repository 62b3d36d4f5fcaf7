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
import functools
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from dermbridge.audit import seals
from dermbridge.audit.context import current
from dermbridge.audit.keys import audit_key, key_ring
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


def record_denial(
    actor: Any,
    object_type: str,
    object_id: str | int,
    *,
    path: str,
    method: str | None,
    reason: str = "",
) -> AuditEvent:
    """A refused access-control check (OWASP ASVS 7.2.2): who asked for which object, where.

    Pages call it when they refuse an object they looked up themselves (the request then ends
    in a 404 that says nothing); refusals they do not record are caught by
    core.middleware.DenialAuditMiddleware. `reason`, when given, says which rule refused."""
    detail: dict[str, Any] = {"path": path, "method": method}
    if reason:
        detail["reason"] = reason[:200]
    return record(
        actor, "access.denied", object_type=object_type, object_id=object_id, detail=detail
    )


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


_HEAD_COLUMNS = "id, last_seq, last_hash, count, keyed_from"
_shards_ensured = 0  # the shard count whose heads this process has made sure exist


def _ensure_shards(shards: int) -> None:
    existing = set(AuditHead.objects.values_list("id", flat=True))
    missing = [AuditHead(id=i) for i in range(1, shards + 1) if i not in existing]
    if missing:
        AuditHead.objects.bulk_create(missing, ignore_conflicts=True)


def _lock_a_shard(cursor: Any) -> tuple[int, int, str, int, int | None]:
    """Lock one shard's head: one no other transaction holds (PostgreSQL's SKIP LOCKED), the
    one this transaction already holds first; wait for one only when every shard is busy."""
    shards = max(1, int(settings.AUDIT_SHARDS))
    hint = getattr(connection, "_dermbridge_audit_shard", 0)
    row = None
    global _shards_ensured
    if _shards_ensured != shards:
        _ensure_shards(shards)
        _shards_ensured = shards
    if connection.features.has_select_for_update_skip_locked:
        cursor.execute(
            f"SELECT {_HEAD_COLUMNS} FROM audit_audithead WHERE id <= %s "  # noqa: S608 - constant
            "ORDER BY (id = %s) DESC, random() LIMIT 1 FOR UPDATE SKIP LOCKED",
            [shards, hint],
        )
        row = cursor.fetchone()
    if row is None:
        # SQLite serialises every writer anyway: one shard unless this transaction holds another.
        busy = connection.features.has_select_for_update_skip_locked
        wanted = hint if 1 <= hint <= shards else (random.randint(1, shards) if busy else 1)
        sql = f"SELECT {_HEAD_COLUMNS} FROM audit_audithead WHERE id = %s"  # noqa: S608
        if connection.features.has_select_for_update:
            sql += " FOR UPDATE"
        cursor.execute(sql, [wanted])
        row = cursor.fetchone()
        if row is None:
            _ensure_shards(shards)
            cursor.execute(sql, [wanted])
            row = cursor.fetchone()
    connection._dermbridge_audit_shard = int(row[0])  # type: ignore[attr-defined]
    return (
        int(row[0]),
        int(row[1]),
        str(row[2]),
        int(row[3]),
        None if row[4] is None else int(row[4]),
    )


def _append(events: list[AuditEvent]) -> None:
    """Chain and insert `events` on one shard under its head's lock: a locking read, an insert,
    an update. Other shards stay free for other transactions."""
    key = audit_key()
    with transaction.atomic(), connection.cursor() as cursor:
        shard, last_seq, last_hash, count, keyed_from = _lock_a_shard(cursor)
        switched = keyed_from is None
        start = last_seq + 1 if keyed_from is None else keyed_from
        for event in events:
            last_seq += 1
            event.shard, event.shard_seq, event.prev_hash = shard, last_seq, last_hash
            event.hash = last_hash = event.compute_hash(key)
        _insert(cursor, events)
        cursor.execute(
            "UPDATE audit_audithead SET last_seq = %s, last_hash = %s, count = %s, "
            "keyed_from = %s WHERE id = %s",
            [last_seq, last_hash, count + len(events), start, shard],
        )
        if switched:
            # Pin where this shard's keyed events begin outside the database at once: otherwise
            # someone who moved `keyed_from` could re-hash the early keyed events with sha256.
            transaction.on_commit(seal_chain)


_INSERT_FIELDS = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]


def _insert(cursor: Any, events: list[AuditEvent]) -> None:
    """Insert the chained events. One event (a page or image view: nearly every append) is one
    prepared INSERT ... RETURNING on the cursor already open, each value made ready for the
    database by its own model field as the ORM would; several go through bulk_create. Building
    the INSERT through the ORM cost more CPU than the chain's lock, read and update together."""
    if len(events) != 1 or not connection.features.can_return_columns_from_insert:
        AuditEvent.objects.bulk_create(events)
        return
    event = events[0]
    cursor.execute(
        _insert_sql(connection.vendor),
        [f.get_db_prep_save(getattr(event, f.attname), connection) for f in _INSERT_FIELDS],
    )
    event.seq = cursor.fetchone()[0]
    event._state.adding, event._state.db = False, connection.alias


@functools.cache
def _insert_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in _INSERT_FIELDS)
    values = ", ".join(["%s"] * len(_INSERT_FIELDS))
    table, pk = quote(AuditEvent._meta.db_table), quote(str(AuditEvent._meta.pk.column))
    return f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}"  # noqa: S608


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
    """Append a signed seal of every shard's committed tip; False when the last seal says the same."""
    heads = {
        h.id: (h.last_seq, h.last_hash, h.count, h.keyed_from) for h in AuditHead.objects.all()
    }
    if not heads:
        return False
    return seals.append_seal(heads)


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    seals: int = 0
    shards: int = 0


def verify_chain(batch_size: int = 5000) -> Verification:
    """Walk each shard's chain in order and report the first event that was altered, inserted or
    removed, then hold the chain to every seal: a sealed event rewritten, events removed from a
    shard's end (a seal names an event the database no longer has), keyed events downgraded.
    `first_bad_seq` is the event's position in its shard (shard 1 holds every event written
    before sharding, where position and row id are the same)."""
    heads = {h.id: h for h in AuditHead.objects.all()}
    sealed, seal_problems = seals.read_seals()
    n_seals = len(sealed)
    if seal_problems:
        return Verification(False, 0, None, seal_problems[0], n_seals)
    keys = key_ring().all  # the current key, then the keys before a rotation
    checked = 0
    for shard in sorted(set(heads) | {s for seal in sealed for s in seal.heads}):
        head = heads.get(shard)
        sealed_here = [(seal, seal.heads[shard]) for seal in sealed if shard in seal.heads]
        result = _verify_shard(shard, head, sealed_here, keys, batch_size)
        if isinstance(result, Verification):
            return Verification(
                False, checked + result.checked, result.first_bad_seq, result.problem, n_seals
            )
        checked += result
    beyond = _events_beyond_heads()
    if beyond is not None:
        return Verification(False, checked, beyond[1], beyond[0], n_seals)
    return Verification(True, checked, None, "", n_seals, len(heads))


def _where(shard: int) -> str:
    return "" if shard == 1 else f" of shard {shard}"


def _verify_shard(
    shard: int,
    head: AuditHead | None,
    sealed: list[tuple[seals.Seal, tuple[int, str, int, int | None]]],
    keys: tuple[bytes, ...],
    batch_size: int,
) -> int | Verification:
    where = _where(shard)
    keyed_from = head.keyed_from if head is not None else None
    starts = {s[3] for _, s in sealed if s[3] is not None}
    if len(starts) > 1 or (starts and starts != {keyed_from}):
        first = min(starts)
        return Verification(
            False,
            0,
            first,
            f"the chain{where} is keyed from event #{first} according to the seals, but the head "
            f"says {'#' + str(keyed_from) if keyed_from else 'it is not keyed'}",
        )
    sealed_hash = {s[0]: s[1] for _, s in sealed}
    last_at_start = head.last_seq if head is not None else 0
    expected_prev, expected_seq, checked, last_seq = GENESIS_HASH, 1, 0, 0
    qs = AuditEvent.objects.filter(shard=shard, shard_seq__lte=last_at_start).order_by("shard_seq")
    for event in qs.iterator(chunk_size=batch_size):
        bad = _check_event(event, expected_seq, expected_prev, keyed_from, keys, sealed_hash, where)
        if bad is not None:
            return Verification(False, checked, bad[0], bad[1])
        expected_prev, expected_seq, last_seq = event.hash, event.shard_seq + 1, event.shard_seq
        checked += 1
    if head is not None and (head.last_seq != last_seq or head.last_hash != expected_prev):
        return Verification(
            False,
            checked,
            last_seq + 1,
            f"events{where} after #{last_seq} were removed (the chain head records "
            f"#{head.last_seq})",
        )
    if head is not None and head.count != checked:
        return Verification(False, checked, None, f"the number of events{where} does not match")
    newest = max(sealed, key=lambda pair: pair[1][0], default=None)
    if newest is not None and newest[1][0] > last_seq:
        return Verification(
            False,
            checked,
            last_seq + 1,
            f"events{where} after #{last_seq} were removed: the seal of {newest[0].at} "
            f"(line {newest[0].line}) records #{newest[1][0]}",
        )
    return checked


def _events_beyond_heads() -> tuple[str, int] | None:
    """An event placed after its shard's head (and not by an append committed meanwhile)."""
    fresh = dict(AuditHead.objects.values_list("id", "last_seq"))
    for shard, top in (
        AuditEvent.objects.values("shard")
        .annotate(top=Max("shard_seq"))
        .values_list("shard", "top")
    ):
        if top > fresh.get(shard, 0):
            return f"event #{top}{_where(shard)} was inserted beyond the chain head", top
    return None


def _check_event(
    event: AuditEvent,
    expected_seq: int,
    expected_prev: str,
    keyed_from: int | None,
    keys: tuple[bytes, ...],
    sealed_hash: dict[int, str],
    where: str = "",
) -> tuple[int, str] | None:
    n = event.shard_seq
    if n != expected_seq:
        return expected_seq, f"event #{expected_seq}{where} is missing (next is #{n})"
    if event.prev_hash != expected_prev:
        return n, f"event #{n}{where} does not follow the previous event"
    keyed = keyed_from is not None and n >= keyed_from
    # A keyed event verifies under the current key or one it replaced (a rotation: processes
    # pick the new key up one by one, so old and new may interleave for a moment).
    if not any(event.compute_hash(key) == event.hash for key in (keys if keyed else (None,))):
        return n, f"event #{n}{where} was altered" + (
            " (or none of the audit keys is the one it was written with: after a rotation, "
            "list the old key in DERMBRIDGE_AUDIT_PREVIOUS_KEYS_FILE)"
            if keyed
            else ""
        )
    if n in sealed_hash and sealed_hash[n] != event.hash:
        return n, f"event #{n}{where} is not the event that was sealed"
    return None
