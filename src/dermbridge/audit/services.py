"""Appending to and verifying the audit chain.

`record()` must be called inside the transaction that does the work it describes, so the event
exists exactly when the work does. Appends are serialised by locking the single AuditHead row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from dermbridge.audit.context import current
from dermbridge.audit.models import GENESIS_HASH, AuditEvent, AuditHead


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
    """Append one event. `actor` is a User, or None for the system (tasks, patient links)."""
    ctx = current.get()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    with transaction.atomic():
        head, _ = AuditHead.objects.select_for_update().get_or_create(id=1)
        event = AuditEvent(
            seq=head.last_seq + 1,
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
            prev_hash=head.last_hash,
        )
        event.hash = event.compute_hash()
        event.save(force_insert=True)
        head.last_seq, head.last_hash, head.count = event.seq, event.hash, head.count + 1
        head.save()
    return event


def latest_event(obj: models.Model, actions: list[str] | tuple[str, ...]) -> AuditEvent | None:
    """The newest event about `obj` among `actions` (e.g. the last PACS send of a referral)."""
    return (
        AuditEvent.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk), action__in=actions
        )
        .order_by("-seq")
        .first()
    )


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify_chain(batch_size: int = 5000) -> Verification:
    """Walk the chain in order and report the first event that was altered, inserted or removed."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    last_seq = 0
    qs = AuditEvent.objects.order_by("seq")
    for event in qs.iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            return Verification(
                False,
                checked,
                expected_seq,
                f"event #{expected_seq} is missing (next is #{event.seq})",
            )
        if event.prev_hash != expected_prev:
            return Verification(
                False, checked, event.seq, f"event #{event.seq} does not follow the previous event"
            )
        if event.compute_hash() != event.hash:
            return Verification(False, checked, event.seq, f"event #{event.seq} was altered")
        expected_prev, expected_seq, last_seq = event.hash, event.seq + 1, event.seq
        checked += 1
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and (head.last_seq != last_seq or head.last_hash != expected_prev):
        return Verification(
            False,
            checked,
            last_seq + 1,
            f"events after #{last_seq} were removed (the chain head records #{head.last_seq})",
        )
    if head is not None and head.count != checked:
        return Verification(False, checked, None, "the number of events does not match the head")
    return Verification(True, checked)
