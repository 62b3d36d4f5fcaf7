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

The package: ``report`` (the kinds, ``Finding``, ``Report``, ``last_run``), ``checks`` (each
check), ``repairs`` (what ``repair=True`` does); ``run`` below puts them together.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from dermbridge.audit.services import record
from dermbridge.referrals.models import Referral, State

from .checks import (
    _assessment_findings,
    _blob_store_findings,
    _derivative_findings,
    _image_blob_findings,
    _live_tasks,
    _stuck_image_findings,
    _stuck_referral_findings,
    _task_findings,
)
from .repairs import _repair, _repair_expired_leases
from .report import (
    ASSESS_TASK,
    EXPECTED_DERIVATIVES,
    PROBLEM_KINDS,
    PROCESS_TASK,
    REPAIR_ACTION,
    REVIEW_TASK,
    RUN_ACTION,
    UPLOAD_DAMAGED_REASON,
    UPLOAD_LOST_REASON,
    Finding,
    LastRun,
    Report,
    last_run,
)

__all__ = [
    "ASSESS_TASK",
    "EXPECTED_DERIVATIVES",
    "PROBLEM_KINDS",
    "PROCESS_TASK",
    "REPAIR_ACTION",
    "REVIEW_TASK",
    "RUN_ACTION",
    "UPLOAD_DAMAGED_REASON",
    "UPLOAD_LOST_REASON",
    "Finding",
    "LastRun",
    "Report",
    "last_run",
    "run",
]


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
