"""What a reconcile run says: the problem kinds and audit actions it uses, one ``Finding``, the
``Report`` (counts, rendering for the command, the summary kept in the audit trail) and the last
run's summary read back for the dashboard and the daily task."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from dermbridge.audit.models import AuditEvent

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
