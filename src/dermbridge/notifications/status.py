"""What a patient is told about their referral, in plain English (no clinical jargon, no data
beyond what they need: which pathway, what happens next, and by when)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

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
class PatientStatus:
    pathway: str
    stage: str
    next_step: str
    by_when: datetime | None
    explanation: str


def describe(referral: Referral) -> PatientStatus:
    pathway = PATHWAY_NAMES[ReferralKind(referral.kind)]
    by_when = referral.due_at if referral.clock_stopped_at is None else None
    outcome = getattr(referral, "outcome", None)
    explanation = outcome.patient_explanation if outcome is not None else ""
    state = referral.state
    if state in (State.SUBMITTED, State.AWAITING_REVIEW, State.IN_REVIEW, State.CONVERTED):
        stage = "A skin specialist is looking at your photos"
        if referral.kind == ReferralKind.URGENT_CANCER:
            next_step = (
                "A skin specialist will look at your photos and decide the next step. "
                "You should be told whether or not you have cancer by the date below."
            )
        else:
            next_step = "A skin specialist will look at your photos and reply by the date below."
    elif state == State.MORE_INFO_REQUESTED:
        stage = "The skin specialist has asked your GP for more information"
        next_step = "Your GP practice may contact you, for example to take another photo."
    elif state in (State.ADVICE_GIVEN, State.TRIAGED, State.CLOSED) and outcome is not None:
        stage = "The skin specialist has made a decision"
        next_step = DECISION_TEXT[PathwayDecision(outcome.pathway_decision)]
    elif state == State.WITHDRAWN or (state == State.CLOSED and outcome is None):
        stage = "This referral has been closed"
        next_step = "Your GP practice will talk to you about what happens next."
        by_when = None
    else:
        stage = "Your GP practice is preparing the referral"
        next_step = "Your GP practice will send it soon."
        by_when = None
    if by_when is not None and by_when < timezone.now():
        by_when = None
    return PatientStatus(pathway, stage, next_step, by_when, explanation)
