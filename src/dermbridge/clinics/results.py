"""The result clock after a photography visit (issue #13 item 5): the patient is to have their
result within ``settings.HUB_RESULT_WORKING_DAYS`` working days of the visit (default 21,
England and Wales bank holidays skipped), shown on the review page beside the 28-day Faster
Diagnosis Standard of an urgent suspected cancer referral, with a warning to the service near
the target, once per visit.

The clock starts when the visit is recorded as attended (`start`, in the visit's transaction)
and stops when the dermatologist answers (``Referral.responded_at``: the answer is what the
patient is sent; the hub dashboard measures "appointment to result" the same way). The dates
come from `referrals.targets.result_clock`, the same working-day arithmetic and warning rule
(the service's ``near_breach_working_days``) as the referral's own response target; the
periodic `warn_near_results` follows `referrals.tasks.warn_near_breaches`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dermbridge.audit.services import record
from dermbridge.clinics.models import Appointment, AppointmentStatus
from dermbridge.notifications.messages import referral_url
from dermbridge.notifications.services import notify_service_text
from dermbridge.referrals.models import Referral, State, TargetStatus
from dermbridge.referrals.targets import result_clock

# A referral that was withdrawn or closed owes no result.
STOPPED_STATES = (State.WITHDRAWN, State.CLOSED)


def working_days() -> int:
    return int(settings.HUB_RESULT_WORKING_DAYS)


def start(appointment: Appointment) -> None:
    """Set the clock on an attended visit (the caller saves ``result_*`` fields)."""
    begun = appointment.outcome_at or timezone.now()
    service = appointment.referral.service
    appointment.result_due_at, appointment.result_warn_at = result_clock(
        begun, working_days(), service.near_breach_working_days
    )
    appointment.result_warned_at = None


@dataclass(frozen=True)
class ResultClock:
    """Where a visit's result clock stands: status is 'breached', 'near', 'ok' or 'met'."""

    visit_at: datetime
    due_at: datetime
    status: str
    answered_at: datetime | None
    working_days: int

    @property
    def label(self) -> str:
        if self.status == "met":
            return "Result sent"
        labels = dict(TargetStatus.choices)  # the one wording of a clock past or near its target
        return str(labels.get(self.status, ""))


def clock_of(appointment: Appointment, now: datetime | None = None) -> ResultClock | None:
    if appointment.result_due_at is None or appointment.status != AppointmentStatus.ATTENDED:
        return None
    referral = appointment.referral
    answered = referral.responded_at
    now = now or timezone.now()
    if answered is not None:
        status = "met"
    elif referral.state in STOPPED_STATES:
        return None
    elif now > appointment.result_due_at:
        status = "breached"
    elif appointment.result_warn_at is not None and now >= appointment.result_warn_at:
        status = "near"
    else:
        status = "ok"
    return ResultClock(
        visit_at=appointment.outcome_at or appointment.slot.starts_at,
        due_at=appointment.result_due_at,
        status=status,
        answered_at=answered,
        working_days=working_days(),
    )


def latest_clock(referral_id: int, now: datetime | None = None) -> ResultClock | None:
    """The result clock of the referral's latest attended visit, or None (one query)."""
    visit = (
        Appointment.objects.filter(
            referral_id=referral_id,
            status=AppointmentStatus.ATTENDED,
            result_due_at__isnull=False,
        )
        .select_related("slot", "referral")
        .order_by("-outcome_at", "-id")
        .first()
    )
    return clock_of(visit, now) if visit else None


def clocks_for(referrals: list[Referral], now: datetime | None = None) -> dict[int, ResultClock]:
    """The result clock of each referral's latest attended visit, for a page of referrals (the
    worklist): one query, none when no referral on the page went to a hub."""
    wanted = {r.pk: r for r in referrals if r.imaging_hub_id is not None}
    if not wanted:
        return {}
    latest: dict[int, Appointment] = {}
    for visit in (
        Appointment.objects.filter(
            referral_id__in=wanted,
            status=AppointmentStatus.ATTENDED,
            result_due_at__isnull=False,
        )
        .select_related("slot")
        .order_by("referral_id", "-outcome_at", "-id")
    ):
        if visit.referral_id not in latest:
            visit.referral = wanted[visit.referral_id]  # the page's row: no query per visit
            latest[visit.referral_id] = visit
    out = {}
    for pk, visit in latest.items():
        clock = clock_of(visit, now)
        if clock is not None:
            out[pk] = clock
    return out


@transaction.atomic
def warn_one(appointment_id: int) -> bool:
    """Warn the service once that a visit's result is near (or past) its target. Safe to run
    twice: the row is locked and ``result_warned_at`` set with the outbox row."""
    visit = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("referral__service", "slot__session__site__hub")
        .get(pk=appointment_id)
    )
    referral = visit.referral
    if (
        visit.result_warned_at is not None
        or referral.responded_at is not None
        or referral.state in STOPPED_STATES
    ):
        return False
    visit.result_warned_at = timezone.now()
    visit.save(update_fields=["result_warned_at"])
    due = timezone.localtime(visit.result_due_at)
    hub = visit.slot.session.site.hub
    line = (
        f"Referral {referral.reference}: the patient was photographed at {hub.name}; their "
        f"result is due by {due:%A %-d %B %Y} ({working_days()} working days after the visit)."
    )
    notify_service_text(
        referral,
        "hub_result_near_breach",
        occurrence=f"appointment-{visit.pk}",
        subject=f"DermBridge: the result for referral {referral.reference} is nearly due",
        body=f"{line}\n\nOpen it (you will be asked to sign in):\n{referral_url(referral)}\n",
    )
    record(
        None,
        "clinics.result.near_breach_warning",
        visit,
        organisation_id=referral.service_id,
        detail={"referral": referral.reference, "due": visit.result_due_at.isoformat()},  # type: ignore[union-attr]
    )
    return True


def warn_near_results(limit: int = 1000) -> int:
    """Periodic (the scheduler): warn for every attended visit past its warning time whose
    result has not been sent, once each. Returns how many were warned."""
    due = Appointment.objects.filter(
        status=AppointmentStatus.ATTENDED,
        result_warn_at__lte=timezone.now(),
        result_warned_at__isnull=True,
        referral__responded_at__isnull=True,
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(due[:limit]) if warn_one(pk))


__all__ = [
    "ResultClock",
    "clock_of",
    "clocks_for",
    "latest_clock",
    "start",
    "warn_near_results",
    "working_days",
]
