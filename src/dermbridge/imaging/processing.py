"""Running an uploaded photo through the pipeline: once, safely, whatever fails or is killed.

An image row in ``processing`` always ends ``ready`` or ``failed`` with a reason the photographer
can act on — never left:

- the task is queued in the transaction that creates the row (``core.queue.enqueue_atomic``),
  so a process killed after the commit cannot leave a row no task will process;
- a *temporary* error (blob store unreachable or full, database connection lost) is retried with
  back-off, up to ``MAX_ATTEMPTS`` runs, then fails with a reason;
- any other error fails the image with a reason at once (and is logged with its traceback);
- ``requeue_stuck_images`` (run by the scheduler) puts back in the queue an image whose task is
  gone — lost with a broker, failed while the database was away — or fails it when its upload is
  gone too.

Blobs: derivatives are stored, and the row naming them committed, under the addresses' locks
(``imaging.blobrefs``); the raw upload is released only after the commit, and only if no other
image of the same bytes still names it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from io import BytesIO
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from dermbridge.audit.services import record
from dermbridge.core.queue import enqueue_atomic
from dermbridge.imaging import blobrefs
from dermbridge.imaging.blobstore import BlobCorrupt, BlobNotFound, BlobStoreUnavailable
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.imaging.pipeline import process_image as run_pipeline
from dermbridge.imaging.pipeline.types import ImageRejected
from dermbridge.imaging.signals import image_ready
from dermbridge.imaging.storage import blob_store

log = logging.getLogger(__name__)

# Runs of the pipeline before a photo that keeps meeting temporary errors is failed.
MAX_ATTEMPTS = 5
# Back-off before the next run after a temporary error, by attempts so far (seconds).
BACKOFF_SECONDS = (15, 60, 300, 900)
# An image still processing this long after its upload, with no task queued or running for it,
# is put back in the queue by the scheduler.
STUCK_AFTER = timedelta(minutes=5)

TEMPORARY_ERRORS: tuple[type[BaseException], ...] = (
    BlobStoreUnavailable,
    OSError,  # a disk or network error below the store
    OperationalError,
    InterfaceError,
)

REASON_UPLOAD_LOST = (
    "The uploaded file was lost before it could be processed (nothing about the photo itself). "
    "Please upload the photo again."
)
REASON_UNREADABLE = "The stored upload could not be read back. Please upload the photo again."
REASON_TEMPORARY = (
    "This photo could not be processed because of a problem on our side that lasted too long "
    "(storage or database unavailable). Please upload it again."
)
REASON_INTERNAL = (
    "This photo could not be processed because of an unexpected error on our side. Please "
    "upload it again; if it happens again, tell your IT service desk."
)
TASK_PATH = "dermbridge.imaging.tasks.process_lesion_image"


def process_lesion_image(image_id: int) -> str:
    """Run the pipeline for one uploaded image. Safe to run twice, and after a crash midway."""
    try:
        return _process(image_id)
    except TEMPORARY_ERRORS as exc:
        return _after_temporary_error(image_id, exc)
    except BlobNotFound:
        return _fail(image_id, REASON_UPLOAD_LOST, code="upload_missing")
    except BlobCorrupt:
        return _fail(image_id, REASON_UNREADABLE, code="upload_unreadable")
    except Exception:
        log.exception("image %s: the pipeline failed unexpectedly", image_id)
        return _fail(image_id, REASON_INTERNAL, code="internal_error")


def _process(image_id: int) -> str:
    image = (
        LesionImage.objects.select_related("lesion__referral__service").filter(pk=image_id).first()
    )
    if image is None or image.status != ImageStatus.PROCESSING:
        return "skipped"
    from dermbridge.imaging.image_sets import pipeline_config

    referral = image.lesion.referral
    # The referral's other photos in the order its pages list them, named as the photographer
    # knows them, so "Same as ..." points at the right one (whichever lesion it was taken for).
    others = [
        (phash, f"the {ImageType(kind).label.lower()} photo of lesion {number}")
        for phash, kind, number in LesionImage.objects.filter(
            lesion__referral=referral, status=ImageStatus.READY
        )
        .exclude(pk=image.pk)
        .exclude(perceptual_hash="")
        .order_by("lesion__number", "uploaded_at", "id")
        .values_list("perceptual_hash", "image_type", "lesion__number")
    ]
    raw = blob_store().get(image.upload_address)
    try:
        processed = run_pipeline(
            BytesIO(raw),
            declared_type=image.image_type,
            config=pipeline_config(referral.service),
            other_hashes=[phash for phash, _ in others],
            other_labels=[label for _, label in others],
        )
    except ImageRejected as exc:
        return _fail(image_id, exc.reason, code=exc.code, event="image.rejected")
    return _finish(image_id, processed)


def _finish(image_id: int, processed: Any) -> str:
    """Store the derivatives and mark the image ready, in one transaction under the blobs'
    locks; a crash before the commit leaves only unreferenced blobs (blobs-gc collects them)."""
    written: list[str] = []
    try:
        return _store_and_commit(image_id, processed, written)
    except BaseException:
        # Leave no orphan: what this run wrote goes again, unless a row names it by now.
        for address in written:
            blobrefs.release(address)
        raise


def _store_and_commit(image_id: int, processed: Any, written: list[str]) -> str:
    store = blob_store()
    with transaction.atomic():
        locked = LesionImage.objects.select_for_update().get(pk=image_id)
        if locked.status != ImageStatus.PROCESSING:
            return "skipped"
        blobrefs.lock_addresses(store.address_of(d.data) for d in processed.derivatives.values())
        derivatives: dict[str, dict[str, Any]] = {}
        for name, derivative in processed.derivatives.items():
            address = store.address_of(derivative.data)
            if not store.exists(address):
                written.append(address)
            derivatives[name] = {
                "address": store.put(derivative.data),
                "sha256": derivative.sha256,
                "master_sha256": derivative.master_sha256,
                "size": derivative.size,
                "width": derivative.width,
                "height": derivative.height,
                "media_type": derivative.media_type,
            }
        locked.derivatives = derivatives
        locked.master_sha256 = processed.derivatives["master"].sha256
        locked.perceptual_hash = processed.perceptual_hash
        locked.quality = {
            k: {**c.as_dict(), "blocking": c.blocking} for k, c in processed.quality.items()
        }
        locked.width, locked.height = processed.width, processed.height
        locked.captured_at = processed.capture.taken_at
        locked.device_model = (processed.capture.device_model or "")[:100]
        locked.status, locked.upload_address = ImageStatus.READY, ""
        locked.processed_at = timezone.now()
        locked.save()
        blobrefs.release_on_commit(blobrefs.sync_refs(locked))
        record(None, "image.processed", locked)
        # The AI's pre-read of a dermoscopic photo is enqueued with this commit (triage receives
        # it: imaging/signals.py).
        image_ready.send(sender=LesionImage, image=locked)
    return "ready"


def _fail(image_id: int, reason: str, *, code: str, event: str = "image.failed") -> str:
    with transaction.atomic():
        locked = LesionImage.objects.select_for_update().filter(pk=image_id).first()
        if locked is None or locked.status != ImageStatus.PROCESSING:
            return "skipped"
        locked.status, locked.failure_reason = ImageStatus.FAILED, reason[:300]
        locked.upload_address, locked.processed_at = "", timezone.now()
        locked.save()
        blobrefs.release_on_commit(blobrefs.sync_refs(locked))
        record(None, event, locked, detail={"code": code})
    return "rejected" if event == "image.rejected" else "failed"


def _after_temporary_error(image_id: int, exc: BaseException) -> str:
    """Count the attempt and queue a later run with back-off, or fail after MAX_ATTEMPTS. If the
    database itself is away this raises: the task fails, and the stuck-image sweep re-queues it."""
    log.warning("image %s: temporary error (%s); will retry", image_id, type(exc).__name__)
    from dermbridge.imaging.tasks import process_lesion_image as task

    with transaction.atomic():
        locked = LesionImage.objects.select_for_update().filter(pk=image_id).first()
        if locked is None or locked.status != ImageStatus.PROCESSING:
            return "skipped"
        locked.processing_attempts += 1
        locked.save(update_fields=["processing_attempts"])
        attempts = locked.processing_attempts
    if attempts >= MAX_ATTEMPTS:
        return _fail(image_id, REASON_TEMPORARY, code="temporary_error_exhausted")
    delay = BACKOFF_SECONDS[min(attempts - 1, len(BACKOFF_SECONDS) - 1)]
    backend = task.get_backend()
    if backend.supports_defer:
        task.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(image_id)
    # Without deferral (the immediate backend) the stuck-image sweep runs it again later.
    return "retrying"


def _live_task_image_ids() -> set[int] | None:
    """Ids of images with a processing task queued or running; None when the backend keeps no
    such record here (then every stale image is re-queued: the task is idempotent)."""
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    from dermbridge.imaging.tasks import process_lesion_image as task

    backend = task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return None
    live: set[int] = set()
    rows = DBTaskResult.objects.filter(
        backend_name=backend.alias, task_path=TASK_PATH, status__in=["READY", "RUNNING"]
    ).values_list("args_kwargs", flat=True)
    for args_kwargs in rows:
        args = (args_kwargs or {}).get("args") or []
        if args and isinstance(args[0], int):
            live.add(args[0])
    return live


def requeue_stuck_images(*, older_than: timedelta = STUCK_AFTER) -> dict[str, int]:
    """Put back in the queue every image still processing with no live task; fail those whose
    upload is gone or that have used up their attempts. Returns counts."""
    from dermbridge.imaging.tasks import process_lesion_image as task

    cutoff = timezone.now() - older_than
    live = _live_task_image_ids()
    candidates = LesionImage.objects.filter(status=ImageStatus.PROCESSING, uploaded_at__lt=cutoff)
    if live:
        candidates = candidates.exclude(pk__in=live)
    counts = {"requeued": 0, "failed": 0}
    for image_id in list(candidates.values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            image = LesionImage.objects.select_for_update().filter(pk=image_id).first()
            if image is None or image.status != ImageStatus.PROCESSING:
                continue
            if not image.upload_address or not blob_store().exists(image.upload_address):
                outcome = None
            elif image.processing_attempts + 1 >= MAX_ATTEMPTS:
                outcome = REASON_TEMPORARY
            else:
                image.processing_attempts += 1
                image.save(update_fields=["processing_attempts"])
                record(None, "image.requeued", image, detail={"attempt": image.processing_attempts})
                enqueue_atomic(task, image.pk)
                counts["requeued"] += 1
                continue
        reason = outcome or REASON_UPLOAD_LOST
        code = "temporary_error_exhausted" if outcome else "upload_missing"
        if _fail(image_id, reason, code=code) == "failed":
            counts["failed"] += 1
    if counts["requeued"] or counts["failed"]:
        log.warning("stuck images: %s re-queued, %s failed", counts["requeued"], counts["failed"])
    return counts


__all__ = ["process_lesion_image", "requeue_stuck_images"]
