"""The repairs ``repair=True`` makes: expired task leases put back, stuck or lost-upload images
requeued or failed with a reason, AI assessments and prepare_for_review queued again, and
unreferenced blobs swept; each audited as "reconcile.repair"."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dermbridge.audit.models import AuditEvent
from dermbridge.audit.services import record
from dermbridge.imaging.blobstore import BlobStoreError
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.imaging.services import sweep_blobs
from dermbridge.imaging.storage import blob_store
from dermbridge.referrals.models import Referral, State

from .checks import _live_tasks
from .report import (
    PROCESS_TASK,
    REPAIR_ACTION,
    UPLOAD_DAMAGED_REASON,
    UPLOAD_LOST_REASON,
    Finding,
    Report,
)

log = logging.getLogger("dermbridge.reconcile")


def _repair_expired_leases(findings: list[Finding]) -> None:
    from dermbridge.core.worker import requeue_abandoned

    backends = set(
        DBTaskResult.objects.filter(status="RUNNING").values_list("backend_name", flat=True)
    )
    requeued = failed = 0
    for backend in backends:
        r, f = requeue_abandoned(backend, float(settings.TASK_LEASE_SECONDS))
        requeued, failed = requeued + r, failed + f
    still_running = set(DBTaskResult.objects.filter(status="RUNNING").values_list("pk", flat=True))
    for finding in findings:
        if finding.kind != "task_lease_expired":
            continue
        task_id = finding.subject.removeprefix("task ")
        if task_id not in {str(pk) for pk in still_running}:
            finding.repaired = True
            finding.repair_note = "put back to READY (or failed after too many lost workers)"
    record(
        None,
        REPAIR_ACTION,
        object_type="django_tasks_db.dbtaskresult",
        detail={"finding": "task_lease_expired", "requeued": requeued, "failed": failed},
    )


def _requeue_stuck_images(report: Report, older_than: timedelta) -> None:
    """Stuck images, and processing images whose upload is gone, through the imaging sweep
    (``imaging.processing.requeue_stuck_images``: counts attempts, fails a lost upload with a
    reason the photographer can act on, audits each image); then mark what it settled."""
    from dermbridge.imaging.processing import requeue_stuck_images

    findings = [
        f
        for f in report.findings
        if f.kind == "image_stuck_processing"
        or (f.kind in ("missing_blob", "unreadable_blob") and f.repairable)
    ]
    if not findings:
        return
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    counts = requeue_stuck_images(older_than=older_than)
    requeued = set(
        AuditEvent.objects.filter(
            seq__gt=before, action="image.requeued", object_type="imaging.lesionimage"
        ).values_list("object_id", flat=True)
    )
    record(
        None,
        REPAIR_ACTION,
        object_type="imaging.lesionimage",
        detail={"finding": "image_stuck_processing", **counts},
    )
    live = _live_tasks()
    for finding in findings:
        pk = int(finding.subject.removeprefix("image "))
        image = LesionImage.objects.filter(pk=pk).values_list("status", "failure_reason").first()
        if image is None:
            finding.repaired, finding.repair_note = True, "the image was deleted"
        elif image[0] != ImageStatus.PROCESSING:
            finding.repaired = True
            finding.repair_note = f"now {image[0]}" + (f": {image[1]}" if image[1] else "")
        elif (PROCESS_TASK, pk) in live or str(pk) in requeued:
            finding.repaired, finding.repair_note = True, "processing task queued again"


def _repair(report: Report, lost_uploads: dict[int, str], stale_minutes: float) -> None:
    try:
        _requeue_stuck_images(report, timedelta(minutes=stale_minutes))
    except (BlobStoreError, OSError) as exc:
        log.warning("reconcile: the stuck-image sweep failed: %s", exc)
    swept = False
    for finding in report.findings:
        if finding.repaired or not finding.repairable:
            continue
        try:
            if finding.kind in ("missing_blob", "unreadable_blob"):
                pk = int(finding.subject.removeprefix("image "))
                _fail_lost_upload(finding, pk, lost_uploads.get(pk, "missing"))
            elif finding.kind == "image_stuck_processing":
                _requeue_image(finding, int(finding.subject.removeprefix("image ")))
            elif finding.kind == "assessment_missing":
                _queue_assessment(finding, int(finding.subject.removeprefix("image ")))
            elif finding.kind == "referral_stuck_submitted":
                _requeue_referral(finding, finding.subject.removeprefix("referral "))
            elif finding.kind in ("unreferenced_blob", "leftover_files") and not swept:
                swept = True
                _sweep(report)
        except (BlobStoreError, OSError) as exc:
            finding.repair_note = f"repair failed ({exc.__class__.__name__}): {finding.action}"
            log.warning("reconcile: could not repair %s %s: %s", finding.kind, finding.subject, exc)


def _fail_lost_upload(finding: Finding, image_id: int, state: str) -> None:
    reason = UPLOAD_DAMAGED_REASON if state == "unreadable" else UPLOAD_LOST_REASON
    with transaction.atomic():
        image = LesionImage.objects.select_for_update().filter(pk=image_id).first()
        if image is None or image.status != ImageStatus.PROCESSING:
            finding.repaired, finding.repair_note = True, "already resolved by its task"
            return
        if (
            state == "missing"
            and image.upload_address
            and blob_store().exists(image.upload_address)
        ):
            finding.repair_note = "its upload reappeared; run reconcile again"
            return
        image.status, image.failure_reason = ImageStatus.FAILED, reason
        image.upload_address, image.processed_at = "", timezone.now()
        image.save(update_fields=["status", "failure_reason", "upload_address", "processed_at"])
        record(
            None,
            REPAIR_ACTION,
            image,
            detail={"finding": finding.kind, "action": "image failed", "upload": state},
        )
    finding.repaired = True
    finding.repair_note = "image marked 'could not be used'; the photographer is asked to re-upload"


def _requeue_image(finding: Finding, image_id: int) -> None:
    from dermbridge.imaging.tasks import process_lesion_image

    image = LesionImage.objects.filter(pk=image_id).first()
    if image is None or image.status != ImageStatus.PROCESSING:
        finding.repaired, finding.repair_note = True, "already resolved"
        return
    if not image.upload_address or not blob_store().exists(image.upload_address):
        _fail_lost_upload(finding, image_id, "missing")
        return
    with transaction.atomic():
        record(
            None, REPAIR_ACTION, image, detail={"finding": finding.kind, "action": "task queued"}
        )
        transaction.on_commit(lambda: process_lesion_image.enqueue(image_id))
    finding.repaired, finding.repair_note = True, "processing task queued again"


def _queue_assessment(finding: Finding, image_id: int) -> None:
    from dermbridge.triage.tasks import assess_image

    image = LesionImage.objects.get(pk=image_id)
    with transaction.atomic():
        record(
            None, REPAIR_ACTION, image, detail={"finding": finding.kind, "action": "task queued"}
        )
        transaction.on_commit(lambda: assess_image.enqueue(image_id))
    finding.repaired, finding.repair_note = True, "AI assessment queued"


def _requeue_referral(finding: Finding, reference: str) -> None:
    from dermbridge.referrals.tasks import prepare_for_review

    referral = Referral.objects.get(reference=reference)
    if referral.state != State.SUBMITTED:
        finding.repaired, finding.repair_note = True, "already on the worklist"
        return
    with transaction.atomic():
        record(
            None,
            REPAIR_ACTION,
            referral,
            detail={"finding": finding.kind, "action": "task queued"},
        )
        transaction.on_commit(lambda: prepare_for_review.enqueue(referral.pk))
    finding.repaired, finding.repair_note = True, "prepare_for_review queued again"


def _sweep(report: Report) -> None:
    """Remove unreferenced blobs past the grace period through the imaging sweep (audited)."""
    sweep = sweep_blobs(grace_hours=report.grace_hours)
    gone = set(sweep.unreferenced) | set(sweep.stray_blobs) | set(sweep.temporary)
    for finding in report.findings:
        if finding.kind == "unreferenced_blob":
            done = finding.ref in gone
        elif finding.kind == "leftover_files":
            done = finding.subject.removeprefix("file ") in gone
        else:
            continue
        if done:
            finding.repaired, finding.repair_note = True, "removed (blobs.sweep audited)"
        else:
            finding.repair_note = "kept: renewed since the check (deduplicated upload)"
    record(
        None,
        REPAIR_ACTION,
        object_type="imaging.blob",
        detail={"finding": "unreferenced_blob", "removed": sweep.removed},
    )
