"""The checks: image rows against the blobs they name (exists, or decrypts to the recorded
sha256), missing derivatives and AI assessments, images and referrals stuck without a task,
tasks whose lease ran out or that wait too long, and the blob store's own leftovers."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django_tasks_db.models import DBTaskResult

from dermbridge.imaging.blobstore import BlobNotFound, BlobStoreError
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.imaging.services import sweep_blobs
from dermbridge.imaging.storage import blob_store
from dermbridge.referrals.models import Referral, State
from dermbridge.triage.models import Assessment

from .report import ASSESS_TASK, EXPECTED_DERIVATIVES, PROCESS_TASK, REVIEW_TASK, Finding, Report


def _live_tasks() -> set[tuple[str, Any]]:
    """(task path, first argument) of every task queued or running."""
    live = set()
    rows = DBTaskResult.objects.filter(status__in=("READY", "RUNNING")).values_list(
        "task_path", "args_kwargs"
    )
    for path, args_kwargs in rows.iterator():
        args = (args_kwargs or {}).get("args") or []
        live.add((path, args[0] if args else None))
    return live


class _BlobChecker:
    """Checks each distinct address once: exists (quick) or decrypts, with the plaintext's sha256."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.store = blob_store()
        self._seen: dict[str, tuple[str, str]] = {}  # address -> (state, sha256 or error)

    def check(self, address: str) -> tuple[str, str]:
        """("ok", sha256 or ""), ("missing", why) or ("unreadable", why)."""
        if address not in self._seen:
            self._seen[address] = self._check(address)
        return self._seen[address]

    def _check(self, address: str) -> tuple[str, str]:
        if self.quick:
            try:
                return ("ok", "") if self.store.exists(address) else ("missing", "not in the store")
            except (BlobStoreError, OSError) as exc:
                return "unreadable", f"{exc.__class__.__name__}: {exc}"
        try:
            data = self.store.get(address)
        except BlobNotFound:
            return "missing", "not in the store"
        except (BlobStoreError, OSError) as exc:
            return "unreadable", str(exc)
        return "ok", hashlib.sha256(data).hexdigest()

    @property
    def distinct(self) -> int:
        return len(self._seen)


def _image_blob_findings(
    quick: bool, checked: dict[str, int]
) -> tuple[list[Finding], dict[int, str]]:
    """Findings for rows naming missing or unreadable blobs, and the processing images among them
    (id -> "missing" or "unreadable") whose upload is gone."""
    checker = _BlobChecker(quick)
    findings: list[Finding] = []
    lost_uploads: dict[int, str] = {}
    images = references = 0
    rows = LesionImage.objects.order_by("pk").values_list(
        "pk", "status", "upload_address", "derivatives"
    )
    for pk, status, upload, derivatives in rows.iterator(chunk_size=2000):
        images += 1
        named: list[tuple[str, str, str]] = []  # (what, address, expected sha256)
        if upload:
            named.append(("upload", upload, ""))
        for name, entry in sorted((derivatives or {}).items()):
            if isinstance(entry, dict) and entry.get("address"):
                named.append((f"derivative {name}", entry["address"], entry.get("sha256", "")))
        for what, address, expected in named:
            references += 1
            state, info = checker.check(address)
            if state == "ok" and expected and info and info != expected:
                state, info = "unreadable", "decrypts, but does not match its recorded sha256"
            if state == "ok" or not _still_names(pk, address):
                continue  # fine, or the row moved on while we looked (processing finished)
            if what == "upload" and status == ImageStatus.PROCESSING:
                lost_uploads[pk] = state
                action = "fail the image with a reason the photographer can act on (re-upload)"
                repairable = True
            else:
                action = (
                    "restore this blob from the latest backup (see docs/operations.md); if no "
                    "backup has it, ask the referrer to upload the photo again"
                )
                repairable = False
            findings.append(
                Finding(
                    kind=f"{state}_blob",
                    subject=f"image {pk}",
                    ref=address,
                    detail=f"{what}: blob {address[:12]}... {info}",
                    action=action,
                    repairable=repairable,
                )
            )
    checked["images"] = images
    checked["blob references"] = references
    checked["distinct blobs read" if not quick else "distinct blobs looked up"] = checker.distinct
    return findings, lost_uploads


def _still_names(image_id: int, address: str) -> bool:
    row = LesionImage.objects.filter(pk=image_id).values_list("upload_address", "derivatives")
    current = row.first()
    if current is None:
        return False
    upload, derivatives = current
    return address == upload or any(
        isinstance(e, dict) and e.get("address") == address for e in (derivatives or {}).values()
    )


def _derivative_findings() -> list[Finding]:
    findings = []
    rows = LesionImage.objects.filter(status=ImageStatus.READY).values_list("pk", "derivatives")
    for pk, derivatives in rows.iterator(chunk_size=2000):
        missing = [n for n in EXPECTED_DERIVATIVES if n not in (derivatives or {})]
        if missing:
            findings.append(
                Finding(
                    kind="derivatives_missing",
                    subject=f"image {pk}",
                    detail=f"ready, but has no {', '.join(missing)} version",
                    action="check the image (dermbridge check-image) and ask the referrer to "
                    "upload the photo again if it cannot be reprocessed",
                )
            )
    return findings


def _assessment_findings(
    stale: datetime, live: set[tuple[str, Any]], notes: list[str]
) -> list[Finding]:
    candidates = list(
        LesionImage.objects.filter(
            status=ImageStatus.READY,
            image_type=ImageType.DERMOSCOPIC,
            processed_at__lt=stale,
        )
        .exclude(pk__in=Assessment.objects.values("image_id"))
        .values_list("pk", flat=True)
    )
    candidates = [pk for pk in candidates if (ASSESS_TASK, pk) not in live]
    if not candidates:
        return []
    from dermbridge.triage.inference import get_model

    if get_model() is None:
        notes.append(
            f"The triage AI model is not available: {len(candidates)} dermoscopic images have "
            "no AI assessment (expected while no model is installed; not counted as problems)."
        )
        return []
    return [
        Finding(
            kind="assessment_missing",
            subject=f"image {pk}",
            detail="ready dermoscopic image without an AI assessment, and none queued",
            action="queue the AI assessment",
            repairable=True,
        )
        for pk in candidates
    ]


def _stuck_image_findings(
    stale: datetime, live: set[tuple[str, Any]], lost_uploads: dict[int, str]
) -> list[Finding]:
    findings = []
    rows = LesionImage.objects.filter(
        status=ImageStatus.PROCESSING, uploaded_at__lt=stale
    ).values_list("pk", "uploaded_at")
    for pk, uploaded_at in rows:
        if (PROCESS_TASK, pk) in live or pk in lost_uploads:
            continue  # being processed, or already reported as a lost upload
        findings.append(
            Finding(
                kind="image_stuck_processing",
                subject=f"image {pk}",
                detail=f"processing since {uploaded_at:%Y-%m-%d %H:%M} with no task queued "
                "or running",
                action="queue its processing task again",
                repairable=True,
            )
        )
    return findings


def _stuck_referral_findings(stale: datetime, live: set[tuple[str, Any]]) -> list[Finding]:
    findings = []
    rows = Referral.objects.filter(state=State.SUBMITTED, submitted_at__lt=stale).values_list(
        "pk", "reference", "submitted_at"
    )
    for pk, reference, submitted_at in rows:
        if (REVIEW_TASK, pk) in live:
            continue
        findings.append(
            Finding(
                kind="referral_stuck_submitted",
                subject=f"referral {reference}",
                detail=f"submitted at {submitted_at:%Y-%m-%d %H:%M} but not on the worklist, "
                "and no prepare_for_review task is queued",
                action="queue prepare_for_review again (puts it on the worklist)",
                repairable=True,
            )
        )
    return findings


def _task_findings(now: datetime, waiting_minutes: float) -> list[Finding]:
    findings = []
    lease = timedelta(seconds=settings.TASK_LEASE_SECONDS)
    expired = DBTaskResult.objects.filter(
        status="RUNNING", run_after__lt=now, started_at__lt=now - lease
    ).values_list("pk", "task_path", "started_at")
    for pk, path, started_at in expired:
        findings.append(
            Finding(
                kind="task_lease_expired",
                subject=f"task {pk}",
                detail=f"{path} running since {started_at:%Y-%m-%d %H:%M}, lease run out "
                "(its worker died)",
                action="put it back to READY (what any live worker does on its next beat)",
                repairable=True,
            )
        )
    waiting = (
        DBTaskResult.objects.ready()
        .filter(enqueued_at__lt=now - timedelta(minutes=waiting_minutes))
        .values_list("pk", "task_path", "enqueued_at")
    )
    for pk, path, enqueued_at in waiting:
        findings.append(
            Finding(
                kind="task_waiting",
                subject=f"task {pk}",
                detail=f"{path} queued since {enqueued_at:%Y-%m-%d %H:%M} and not started",
                action="check that `dermbridge worker --queue-name '*'` is running "
                "(and its log for errors)",
            )
        )
    return findings


def _blob_store_findings(report: Report) -> list[Finding]:
    sweep = sweep_blobs(grace_hours=report.grace_hours, dry_run=True)
    report.recent_unreferenced_blobs = sweep.kept_recent
    findings = [
        Finding(
            kind="unreferenced_blob",
            subject=f"blob {address[:12]}...",
            ref=address,
            detail=f"no image names it, older than {report.grace_hours:g} h",
            action="remove it (dermbridge blobs-gc)",
            repairable=True,
        )
        for address in sweep.unreferenced
    ]
    findings += [
        Finding(
            kind="leftover_files",
            subject=f"file {name}",
            detail="blob file no key record names, or an interrupted write",
            action="remove it (dermbridge blobs-gc)",
            repairable=True,
        )
        for name in sweep.stray_blobs + sweep.temporary
    ]
    findings += [
        Finding(
            kind="unreadable_key_record",
            subject=f"blob {address[:12]}...",
            ref=address,
            detail="its key record cannot be opened with the configured master keys",
            action="put the missing master key back in DERMBRIDGE_BLOB_KEYS (from the key "
            "escrow) or restore the record from a backup",
        )
        for address in sweep.unreadable_keys
    ]
    return findings
