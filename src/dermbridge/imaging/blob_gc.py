"""Collecting blobs no row names any more (`dermbridge blobs-gc`, and the daily reconcile):
each goes only under its address lock, and only when no image still refers to it
(imaging/blobrefs.py, ADR 0007)."""

from __future__ import annotations

from dermbridge.audit.services import record
from dermbridge.imaging import blobrefs
from dermbridge.imaging.blobstore import SweepReport
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.storage import blob_store


def referenced_blob_addresses() -> set[str]:
    """Every blob address a row names: raw uploads awaiting the pipeline and all derivatives."""
    addresses: set[str] = set()
    rows = LesionImage.objects.values_list("upload_address", "derivatives")
    for upload, derivatives in rows.iterator(chunk_size=2000):
        if upload:
            addresses.add(upload)
        addresses.update(d["address"] for d in (derivatives or {}).values() if d.get("address"))
    return addresses


def sweep_blobs(*, grace_hours: float, dry_run: bool = False) -> SweepReport:
    """Remove blobs nothing refers to (see BlobStore.sweep), audited; the report of what went."""
    report = blob_store().sweep(
        referenced_blob_addresses,
        grace_seconds=grace_hours * 3600,
        dry_run=dry_run,
        delete_if_unreferenced=blobrefs.release,
    )
    if not dry_run:
        record(
            None,
            "blobs.sweep",
            object_type="imaging.blob",
            detail={
                "unreferenced": len(report.unreferenced),
                "stray_blobs": len(report.stray_blobs),
                "temporary": len(report.temporary),
                "kept_recent": report.kept_recent,
                "unreadable_keys": len(report.unreadable_keys),
                "grace_hours": grace_hours,
            },
        )
    return report
