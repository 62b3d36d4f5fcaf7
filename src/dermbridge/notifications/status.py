"""What a patient is told about their referral, in plain English (no clinical jargon, no data
beyond what they need: which pathway, what happens next, and by when)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from dermbridge.referrals.lesion_outcomes import patient_lines
from dermbridge.referrals.models import PathwayDecision, ReferralKind, State

if TYPE_CHECKING:
    from dermbridge.referrals.models import Referral

PATHWAY_NAMES = {
    ReferralKind.ADVICE: "Your GP has asked a skin specialist for advice",
    ReferralKind.TRIAGE: "You have been referred to the skin (dermatology) service",
    ReferralKind.URGENT_CANCER: "You have been referred urgently to check for skin cancer",
}

DECISION_TEXT = {
    PathwayDecision.ADVICE: "The skin specialist has sent advice to your GP. Your GP practice will "
    "talk to you about what happens next.",
    PathwayDecision.ROUTINE_CLINIC: "You will be offered an appointment at a dermatology clinic. "
    "The hospital will contact you with a date.",
    PathwayDecision.URGENT_CLINIC: "You will be offered an urgent appointment at a dermatology "
    "clinic. The hospital will contact you with a date soon.",
    PathwayDecision.BIOPSY: "You will be offered an appointment to remove a small sample of skin "
    "(a biopsy) so it can be checked. The hospital will contact you with a date.",
    PathwayDecision.SURGERY: "You will be offered an appointment for a small operation to remove "
    "the area of skin. The hospital will contact you with a date.",
    PathwayDecision.DISCHARGE: "The skin specialist does not think you need a hospital "
    "appointment. Your GP has been sent advice. Contact your GP if the area changes, bleeds or "
    "does not heal.",
}


@dataclass(frozen=True)
class StatusSection:
    """A part of the status page an app above writes (clinics: the photography appointment):
    the template that shows it and what it needs (`status_page_sections` in services)."""

    template: str
    context: dict[str, object]


@dataclass(frozen=True)
class PatientStatus:
    pathway: str
    stage: str
    next_step: str
    # One date per step, and what it is the date of ("We aim to reply by"): the clinician's own
    # timescale when they gave one, else the pathway's target; never two.
    by_when: datetime | None
    explanation: str
    when_label: str = ""
    reference: str = ""
    service_name: str = ""
    service_phone: str = ""
    service_phone_hours: str = ""
    sections: tuple[StatusSection, ...] = ()
    # Each answered lesion: (which mark, what it probably is, what happens to it).
    lesions: tuple[tuple[str, str, str], ...] = ()


_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30}
# "within 2 weeks", "in the next two weeks", "within a fortnight", "within 10 working days".
TIMESCALE = re.compile(
    r"\b(?:within|in(?: the next)?)\s+(\d{1,3}|" + "|".join(_NUMBERS) + r")\s+"
    r"(?:working\s+)?(day|week|fortnight|month)s?\b"
    r"|\bwithin\s+a\s+(fortnight)\b",
    re.IGNORECASE,
)


def clinician_timescale(text: str, start: datetime) -> datetime | None:
    """The date a clinician's own words give ("within 2 weeks" of `start`), or None.

    The first timescale in the text counts; working days are counted as working days."""
    from dermbridge.referrals.clocks import add_working_days

    match = TIMESCALE.search(text or "")
    if match is None:
        return None
    if match.group(3):
        return start + timedelta(days=14)
    count_text, unit = match.group(1).lower(), match.group(2).lower()
    count = int(count_text) if count_text.isdigit() else _NUMBERS[count_text]
    if count <= 0:
        return None
    if "working" in match.group(0).lower() and unit == "day":
        return add_working_days(start, count)
    return start + timedelta(days=count * _UNIT_DAYS[unit])


def specialist_has_opened(referral: Referral) -> bool:
    """Has a dermatologist of the service opened the case (claimed it, or read it)?"""
    if referral.state == State.IN_REVIEW or referral.claimed_by_id is not None:
        return True
    from dermbridge.accounts.models import Role
    from dermbridge.audit.models import AuditEvent

    dermatologists = referral.service.memberships.filter(role=Role.DERMATOLOGIST).values("user_id")
    return AuditEvent.objects.filter(
        object_type=referral._meta.label_lower,
        object_id=str(referral.pk),
        organisation_id=referral.service_id,
        actor_id__in=dermatologists,
    ).exists()


def describe(referral: Referral) -> PatientStatus:
    pathway = PATHWAY_NAMES[ReferralKind(referral.kind)]
    outcome = getattr(referral, "outcome", None)
    explanation = outcome.patient_explanation if outcome is not None else ""
    state = referral.state
    usc = referral.kind == ReferralKind.URGENT_CANCER
    # The pathway's target while its clock runs: the reply (A&G, triage) or, for urgent
    # suspected cancer, the 28-day Faster Diagnosis date by which the patient is told.
    target = referral.due_at if referral.clock_stopped_at is None else None
    target_label = (
        "You should be told whether or not you have cancer by"
        if usc
        else "The skin specialist aims to reply by"
    )
    by_when, when_label = None, ""
    if state in (State.SUBMITTED, State.AWAITING_REVIEW, State.IN_REVIEW, State.CONVERTED):
        if specialist_has_opened(referral):
            stage = "A skin specialist is looking at your photos"
        else:
            stage = "Your photos are waiting for a skin specialist to look at them"
        if usc:
            next_step = (
                "A skin specialist will look at your photos and decide the next step. "
                "You should be told whether or not you have cancer by the date below."
            )
        else:
            next_step = "A skin specialist will look at your photos and reply by the date below."
        by_when, when_label = target, target_label
    elif state == State.MORE_INFO_REQUESTED:
        stage = "The skin specialist has asked your GP for more information"
        next_step = "Your GP practice may contact you, for example to take another photo."
        if usc:  # the 28-day clock keeps running while the GP answers
            by_when, when_label = target, target_label
    elif state in (State.ADVICE_GIVEN, State.TRIAGED, State.CLOSED) and outcome is not None:
        stage = "The skin specialist has made a decision"
        next_step = DECISION_TEXT[PathwayDecision(outcome.pathway_decision)]
        # Only a hospital step has a date: after advice or discharge, care is back with the GP
        # (and "see your GP if it changes within 3 months" is not a timescale for the hospital).
        hospital_step = outcome.pathway_decision not in (
            PathwayDecision.ADVICE,
            PathwayDecision.DISCHARGE,
        )
        own = clinician_timescale(explanation, outcome.recorded_at) if hospital_step else None
        if own is not None:
            by_when, when_label = own, "The skin specialist says this should happen by"
        elif usc and hospital_step and state != State.CLOSED:
            by_when, when_label = target, target_label
    elif state == State.WITHDRAWN or (state == State.CLOSED and outcome is None):
        stage = "This referral has been closed"
        next_step = "Your GP practice will talk to you about what happens next."
    elif referral.imaging_hub is not None:
        # A referral for photography at a community hub: the photos come first (the hub's
        # appointment, when booked, is shown beside this by the clinics app).
        stage = f"{referral.imaging_hub.name} will photograph your skin"
        next_step = (
            "They will offer you an appointment; after it, your photos go to a skin specialist."
        )
    else:
        stage = "Your GP practice is preparing the referral"
        next_step = "Your GP practice will send it soon."
    if by_when is not None and by_when < timezone.now():
        by_when, when_label = None, ""
    if by_when is None:
        when_label = ""
    service = referral.service
    return PatientStatus(
        pathway,
        stage,
        next_step,
        by_when,
        explanation,
        when_label=when_label,
        reference=referral.reference,
        service_name=service.name,
        service_phone=service.patient_phone,
        service_phone_hours=service.patient_phone_hours,
        lesions=tuple(patient_lines(referral)) if outcome is not None else (),
    )
