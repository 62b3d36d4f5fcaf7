"""Which image names which blob, and deleting a shared blob only when nothing names it.

Blobs are content-addressed: the same photo uploaded twice (a client's retry, a GP choosing the
same file twice) is stored once and named by two rows. Deleting "my" blob is therefore a question
for the whole table, and it must not race a concurrent upload of the same bytes that has found the
blob present (``put`` deduplicates) but has not yet committed the row that names it.

The rule, in one place:

- whoever is about to name an address (an upload, the pipeline storing derivatives) takes the
  address's lock (``lock_addresses``) *before* the blob is written or found, and keeps it until the
  row naming it (its ``BlobRef``) commits;
- whoever wants a blob gone calls ``release`` after its own change committed: in one transaction
  it takes the same lock, asks whether any ``BlobRef`` still names the address, and deletes the blob
  only if none does, before the lock is let go.

The lock is a row per address in ``BlobLock``: a row lock on PostgreSQL (held by the UPDATE until
the transaction ends), the database write lock on SQLite (taken by the first write). Addresses are
locked in sorted order, so two transactions locking several never deadlock.

A process killed between a commit and its ``release`` leaves an unreferenced blob: ``blobs-gc``
collects it after its grace period, deleting through ``release`` too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from dermbridge.imaging.blobstore import BlobStoreError
from dermbridge.imaging.models import BlobLock, BlobRef, LesionImage
from dermbridge.imaging.storage import blob_store

log = logging.getLogger(__name__)


def lock_addresses(addresses: Iterable[str]) -> None:
    """Lock each address until the current transaction ends (call inside ``atomic``)."""
    wanted = sorted({a for a in addresses if a})
    if not wanted:
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_addresses must be called inside a transaction")
    BlobLock.objects.bulk_create([BlobLock(address=a) for a in wanted], ignore_conflicts=True)
    now = timezone.now()
    for address in wanted:  # one by one, in order: no deadlock between two lockers
        BlobLock.objects.filter(pk=address).update(locked_at=now)


def image_addresses(image: LesionImage) -> set[str]:
    """Every blob address the row names: the raw upload (until processed) and each derivative."""
    addresses = {d["address"] for d in (image.derivatives or {}).values() if d.get("address")}
    if image.upload_address:
        addresses.add(image.upload_address)
    return addresses


def sync_refs(image: LesionImage) -> set[str]:
    """Make the image's BlobRefs match what its row names now; returns the addresses it no
    longer names (for the caller to ``release`` after commit)."""
    current = image_addresses(image)
    previous = set(BlobRef.objects.filter(image=image).values_list("address", flat=True))
    gone = previous - current
    if gone:
        BlobRef.objects.filter(image=image, address__in=gone).delete()
    BlobRef.objects.bulk_create(
        [BlobRef(address=a, image=image) for a in current - previous], ignore_conflicts=True
    )
    return gone


def is_referenced(address: str) -> bool:
    return BlobRef.objects.filter(address=address).exists()


def release(address: str) -> bool:
    """Delete the blob at ``address`` if no image names it any more; True if it was deleted.

    Run after the change that stopped naming it has committed (``release_on_commit``). A blob
    that cannot be deleted now (store unavailable) is left for ``blobs-gc``.
    """
    if not address:
        return False
    try:
        with transaction.atomic():
            lock_addresses([address])
            if is_referenced(address):
                return False
            blob_store().delete(address)
            return True
    except (OSError, BlobStoreError) as exc:
        log.warning("could not delete an unreferenced blob (%s); blobs-gc will", type(exc).__name__)
        return False


def release_on_commit(addresses: Iterable[str]) -> None:
    for address in sorted(set(addresses)):
        transaction.on_commit(lambda a=address: release(a))  # type: ignore[misc]
