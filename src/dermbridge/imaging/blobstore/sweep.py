"""Garbage collection of the blob store: what nothing refers to, half-done puts, temp files.

``BlobStore.sweep`` runs it; imaging/blob_gc.py (``blobs-gc``) says what is referenced.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dermbridge.imaging.blobstore.envelope import ADDRESS
from dermbridge.imaging.blobstore.errors import BlobStoreError

if TYPE_CHECKING:
    from dermbridge.imaging.blobstore.store import BlobStore


@dataclass
class SweepReport:
    """What a garbage-collection sweep removed (or, in a dry run, would remove)."""

    unreferenced: list[str] = field(default_factory=list)  # addresses no row names
    stray_blobs: list[str] = field(default_factory=list)  # blob files no key record names
    temporary: list[str] = field(default_factory=list)  # interrupted writes
    kept_recent: int = 0  # unreferenced, but younger than the grace period
    unreadable_keys: list[str] = field(default_factory=list)  # left alone, reported

    @property
    def removed(self) -> int:
        return len(self.unreferenced) + len(self.stray_blobs) + len(self.temporary)


def sweep_store(
    store: BlobStore,
    referenced: Callable[[], Collection[str]],
    *,
    grace_seconds: float,
    dry_run: bool = False,
    delete_if_unreferenced: Callable[[str], bool] | None = None,
) -> SweepReport:
    """``BlobStore.sweep`` (its docstring says what goes and what protects writes in flight)."""
    report = SweepReport()
    cutoff = time.time() - grace_seconds
    keys: dict[str, tuple[str, float]] = {}  # address -> (stored name, mtime)
    blobs: list[tuple[str, str, str, float]] = []  # (name, address, version, mtime)
    for name, mtime in store.backend.listing():
        base = name.rsplit("/", 1)[-1]
        if base.startswith(".tmp-"):
            if mtime < cutoff:
                report.temporary.append(name)
        elif base.endswith(".key") and ADDRESS.match(base[:-4]):
            keys[base[:-4]] = (name, mtime)
        elif base.endswith(".blob") and base.count(".") == 2:
            address, version, _ = base.split(".")
            blobs.append((name, address, version, mtime))
    in_use = set(referenced())
    live_versions: dict[str, str] = {}
    for address, (name, mtime) in sorted(keys.items()):
        if address not in in_use:
            if mtime < cutoff:
                report.unreferenced.append(address)
                continue
            report.kept_recent += 1
        try:
            _, version, _ = store._unwrap(address, store.backend.read(name))
        except BlobStoreError:
            report.unreadable_keys.append(address)
            version = "*"  # keep every blob file of this address
        live_versions[address] = version
    doomed = set(report.unreferenced)
    for name, address, version, mtime in blobs:
        if address in doomed or mtime >= cutoff:
            continue  # an unreferenced address's blob goes with its key record below
        if live_versions.get(address) not in (version, "*"):
            report.stray_blobs.append(name)
    if dry_run:
        return report
    removed = []
    for address in report.unreferenced:
        name = keys[address][0]
        renewed = store.backend.modified(name)
        if renewed is not None and renewed >= cutoff:
            report.kept_recent += 1  # deduplicated against since the listing
            continue
        if delete_if_unreferenced is not None:
            if not delete_if_unreferenced(address):
                report.kept_recent += 1  # named by a row since the listing
                continue
        else:
            store.backend.delete(name)  # the key record first: a half-done sweep reads as absent
        for blob_name, blob_address, _, _ in blobs:
            if blob_address == address:
                store.backend.delete(blob_name)
        removed.append(address)
    report.unreferenced = removed
    for name in report.stray_blobs + report.temporary:
        store.backend.delete(name)
    return report
