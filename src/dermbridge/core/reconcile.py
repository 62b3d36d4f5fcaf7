"""`dermbridge reconcile`: check the database and the blob store against each other.

What it looks for, and what ``repair=True`` does about each (everything else needs a person):

======================== ============================================================ =========================
kind                     what it means                                                repair
======================== ============================================================ =========================
missing_blob             an image row names a blob that is not in the store           processing image: failed
unreadable_blob          a named blob fails to decrypt, or its bytes do not match     with a reason the
                         the sha256 the row recorded (full check only)                photographer can act on
derivatives_missing      a READY image lacks some of its derivatives                  needs a person
assessment_missing       a READY dermoscopic image has no AI assessment               assessment queued
image_stuck_processing   PROCESSING for a while with no queued or running task       task queued again (or
                                                                                      failed: upload gone)
referral_stuck_submitted SUBMITTED for a while with no prepare_for_review task        task queued again
task_lease_expired       a task RUNNING past its lease (its worker died)              put back to READY
task_waiting             a task READY for a long time: is a worker running?           needs a person
unreferenced_blob        a blob no row names, older than the blobs-gc grace period    removed (imaging sweep)
leftover_files           blob files no key record names, interrupted writes           removed (imaging sweep)
unreadable_key_record    a key record the keyring cannot open (wrong or missing key)  needs a person
======================== ============================================================ =========================

Unreferenced blobs younger than the grace period are counted but are not problems: uploads in
flight write their blob before the row that names it commits.

Every repair is audited ("reconcile.repair"), and the run's summary is recorded as a
"reconcile.run" event with counts only (never patient data): the service dashboard shows it.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dermbridge.audit.models import AuditEvent
from dermbridge.audit.services import record
from dermbridge.imaging.blobstore import BlobNotFound, BlobStoreError
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.imaging.services import sweep_blobs
from dermbridge.imaging.storage import blob_store
from dermbridge.referrals.models import Referral, State
from dermbridge.triage.models import Assessment

log = logging.getLogger("dermbridge.reconcile")

RUN_ACTION = "reconcile.run"
REPAIR_ACTION = "reconcile.repair"
EXPECTED_DERIVATIVES = ("master", "viewer", "thumbnail", "ai_input", "ers")
PROCESS_TASK = "dermbridge.imaging.tasks.process_lesion_image"
ASSESS_TASK = "dermbridge.triage.tasks.assess_image"
REVIEW_TASK = "dermbridge.referrals.tasks.prepare_for_review"
# What the photographer reads on the referral when a photo's upload is lost or damaged.
UPLOAD_LOST_REASON = (
    "This photo was received but its file was lost before it could be processed: "
    "please upload it again."
)
UPLOAD_DAMAGED_REASON = (
    "This photo's stored file is damaged and could not be processed: please upload it again."
)
PROBLEM_KINDS = (
    "missing_blob",
    "unreadable_blob",
    "derivatives_missing",
    "assessment_missing",
    "image_stuck_processing",
    "referral_stuck_submitted",
    "task_lease_expired",
    "task_waiting",
    "unreferenced_blob",
    "leftover_files",
    "unreadable_key_record",
)


@dataclass
class Finding:
    kind: str
    subject: str  # "image 12", "referral 7", "task <uuid>", "blob 3fa2c1..." — never patient data
    detail: str
    action: str  # what --repair does, or what a person should do
    repairable: bool = False
    repaired: bool = False
    repair_note: str = ""
    ref: str = ""  # the full id, address or file name the subject abbreviates


@dataclass
class Report:
    started_at: datetime
    quick: bool
    repair: bool
    grace_hours: float
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    recent_unreferenced_blobs: int = 0
    finished_at: datetime | None = None

    @property
    def problems(self) -> int:
        return len(self.findings)

    @property
    def repaired(self) -> int:
        return sum(1 for f in self.findings if f.repaired)

    @property
    def needs_person(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]

    @property
    def ok(self) -> bool:
        """Nothing is wrong any more: no findings, or every one repaired."""
        return not self.needs_person

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.kind for f in self.findings))

    def summary(self) -> dict[str, Any]:
        """Counts only: what the "reconcile.run" audit event and the dashboard keep."""
        return {
            "quick": self.quick,
            "repair": self.repair,
            "problems": self.problems,
            "repaired": self.repaired,
            "needs_person": len(self.needs_person),
            "counts": self.counts(),
            "checked": self.checked,
            "recent_unreferenced_blobs": self.recent_unreferenced_blobs,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "ok": self.ok,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "grace_hours": self.grace_hours,
            "notes": self.notes,
            "findings": [asdict(f) for f in self.findings],
        }

    def render(self) -> str:
        mode = "quick check (blobs exist)" if self.quick else "full check (every blob decrypted)"
        lines = [f"DermBridge reconcile: {mode}, {self.started_at:%Y-%m-%d %H:%M:%S %Z}"]
        lines.append("Checked: " + ", ".join(f"{n} {what}" for what, n in self.checked.items()))
        lines.append(
            f"Unreferenced blobs younger than {self.grace_hours:g} h (uploads in flight; "
            f"not a problem): {self.recent_unreferenced_blobs}"
        )
        lines.extend(f"Note: {note}" for note in self.notes)
        if not self.findings:
            lines.append("No problems found.")
            return "\n".join(lines)
        lines.append(f"Problems: {self.problems}")
        for kind, n in sorted(self.counts().items()):
            lines.append(f"  {kind}: {n}")
        lines.append("")
        for f in self.findings:
            if f.repaired:
                status = f"REPAIRED: {f.repair_note or f.action}"
            elif f.repairable and not self.repair:
                status = f"--repair would: {f.action}"
            else:
                status = f"NEEDS A PERSON: {f.repair_note or f.action}"
            lines.append(f"[{f.kind}] {f.subject}: {f.detail}\n    {status}")
        if self.repair:
            lines.append(
                f"\nRepaired {self.repaired} of {self.problems}; "
                f"{len(self.needs_person)} need a person (see docs/operations.md)."
            )
        else:
            fixable = sum(1 for f in self.findings if f.repairable)
            lines.append(
                f"\n{fixable} of {self.problems} can be repaired with --repair; "
                "see docs/operations.md for the rest."
            )
        return "\n".join(lines)


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


def run(
    *,
    quick: bool = False,
    repair: bool = False,
    grace_hours: float = 24.0,
    stale_minutes: float = 10.0,
    waiting_minutes: float = 60.0,
    now: datetime | None = None,
    record_run: bool = True,
) -> Report:
    """Check everything, repair what is safe when asked, record the summary; the report."""
    now = now or timezone.now()
    report = Report(started_at=now, quick=quick, repair=repair, grace_hours=grace_hours)
    stale = now - timedelta(minutes=stale_minutes)

    task_findings = _task_findings(now, waiting_minutes)
    if repair and any(f.kind == "task_lease_expired" for f in task_findings):
        _repair_expired_leases(task_findings)
    live = _live_tasks()
    report.checked["queued or running tasks"] = len(live)

    blob_findings, lost_uploads = _image_blob_findings(quick, report.checked)
    report.findings += blob_findings
    report.findings += _derivative_findings()
    report.findings += _assessment_findings(stale, live, report.notes)
    report.findings += _stuck_image_findings(stale, live, lost_uploads)
    report.findings += _stuck_referral_findings(stale, live)
    report.findings += task_findings
    # A referenced blob whose key record cannot be opened is already an unreadable_blob finding.
    already = {f.ref for f in blob_findings}
    report.findings += [
        f
        for f in _blob_store_findings(report)
        if not (f.kind == "unreadable_key_record" and f.ref in already)
    ]
    report.checked["submitted referrals"] = Referral.objects.filter(state=State.SUBMITTED).count()

    if repair:
        _repair(report, lost_uploads, stale_minutes)
    report.finished_at = timezone.now()
    if record_run:
        record(None, RUN_ACTION, object_type="core.reconcile", detail=report.summary())
    return report


# ------------------------------------------------------------------------------------ repairs


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


# ------------------------------------------------------------------------------ last result


@dataclass(frozen=True)
class LastRun:
    at: datetime
    problems: int
    needs_person: int
    quick: bool


def last_run() -> LastRun | None:
    """The most recent reconcile summary (for the dashboard and the daily task)."""
    event = AuditEvent.objects.filter(action=RUN_ACTION).order_by("-seq").first()
    if event is None:
        return None
    detail = event.detail or {}
    return LastRun(
        at=event.at,
        problems=int(detail.get("problems", 0)),
        needs_person=int(detail.get("needs_person", detail.get("problems", 0))),
        quick=bool(detail.get("quick", False)),
    )
