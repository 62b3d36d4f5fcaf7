"""How urgent a lesion is, and the referral's pathway decision that follows from its worst lesion.

The one place the ordering is defined (issue #14 item 1; docs/adr/0014-per-lesion-outcome.md).
A lesion's *grade*, least to most urgent:

    discharge  <  monitor  <  routine  <  urgent suspected cancer (USC)

- management "discharge" grades discharge, "monitor" grades monitor;
- management "clinic", "biopsy" or "excision" grades routine, or USC when the diagnosis or any
  differential is a cancer NICE NG12 sends on the urgent suspected cancer pathway (melanoma,
  lentigo maligna -- melanoma in situ -- and squamous cell carcinoma). A basal cell carcinoma is
  routine (NG12 1.7.4: routine referral unless its site or size makes a delay a concern; the
  dermatologist then chooses the USC clinic for the referral).

The referral's decision is the worst lesion's: USC -> urgent suspected cancer clinic; else
excision -> straight to surgery, biopsy -> straight to biopsy, clinic -> routine clinic, monitor
or discharge -> discharge (the GP continues care; a monitored lesion has its review date). The
dermatologist may choose a *more* urgent decision for the referral, never a less urgent one;
for a USC-grade lesion, straight to biopsy or surgery is also accepted (straight to test on the
urgent pathway), a routine clinic or discharge is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from dermbridge.referrals.models import Management, PathwayDecision

# Melanoma, lentigo maligna (melanoma in situ), squamous cell carcinoma of skin.
USC_DIAGNOSES = frozenset({"372244006", "302836005", "254651007"})


# Managements that take tissue: a biopsy request identifier is issued, histology is awaited.
TISSUE_MANAGEMENT = frozenset({Management.BIOPSY, Management.EXCISION})
# Managements that keep the patient with the GP (allowed in Advice & Guidance).
PRIMARY_CARE_MANAGEMENT = frozenset({Management.DISCHARGE, Management.MONITOR})


class Grade(IntEnum):
    """A lesion's urgency, least to most."""

    DISCHARGE = 0
    MONITOR = 1
    ROUTINE = 2
    USC = 3


# Within a grade, which lesion decides the referral (excision over biopsy over clinic).
MANAGEMENT_ORDER = {
    Management.DISCHARGE: 0,
    Management.MONITOR: 1,
    Management.CLINIC: 2,
    Management.BIOPSY: 3,
    Management.EXCISION: 4,
}

# How urgent each referral decision is; a referral's decision may not rank below its worst
# lesion's. Advice ranks with discharge: the GP continues care.
DECISION_RANK = {
    PathwayDecision.ADVICE: 0,
    PathwayDecision.DISCHARGE: 0,
    PathwayDecision.ROUTINE_CLINIC: 1,
    PathwayDecision.BIOPSY: 2,
    PathwayDecision.SURGERY: 2,
    PathwayDecision.URGENT_CLINIC: 3,
}
# A USC-grade lesion may also go straight to biopsy or surgery: "straight to test" on the
# urgent pathway is faster than a clinic first. Anything less urgent is refused.
USC_MINIMUM_RANK = DECISION_RANK[PathwayDecision.BIOPSY]


@dataclass(frozen=True)
class LesionCall:
    """What the dermatologist said of one lesion, as the ordering needs it."""

    number: int
    diagnosis_code: str
    management: str
    differential: tuple[str, ...] = ()


def grade(call: LesionCall) -> Grade:
    if call.management == Management.DISCHARGE:
        return Grade.DISCHARGE
    if call.management == Management.MONITOR:
        return Grade.MONITOR
    if USC_DIAGNOSES.intersection((call.diagnosis_code, *call.differential)):
        return Grade.USC
    return Grade.ROUTINE


def worst(calls: Iterable[LesionCall]) -> LesionCall | None:
    """The lesion that decides the referral: highest grade, then most invasive management,
    then the lowest lesion number (stable)."""
    ranked = sorted(
        calls,
        key=lambda c: (-grade(c), -MANAGEMENT_ORDER.get(Management(c.management), 0), c.number),
    )
    return ranked[0] if ranked else None


def decision_for(call: LesionCall | None, *, advice: bool = False) -> str:
    """The referral's pathway decision that follows from its worst lesion."""
    if advice:
        return PathwayDecision.ADVICE
    if call is None:
        return PathwayDecision.DISCHARGE
    if grade(call) == Grade.USC:
        return PathwayDecision.URGENT_CLINIC
    return {
        Management.EXCISION: PathwayDecision.SURGERY,
        Management.BIOPSY: PathwayDecision.BIOPSY,
        Management.CLINIC: PathwayDecision.ROUTINE_CLINIC,
    }.get(Management(call.management), PathwayDecision.DISCHARGE)


def minimum_rank(call: LesionCall | None, *, advice: bool = False) -> int:
    """The least urgent referral decision (as DECISION_RANK) this worst lesion allows."""
    if call is not None and not advice and grade(call) == Grade.USC:
        return USC_MINIMUM_RANK
    return DECISION_RANK[PathwayDecision(decision_for(call, advice=advice))]


def management_for_decision(decision: str) -> str:
    """The lesion management a referral-level decision implies: used where only a referral-level
    answer exists (the data migration, callers that send one diagnosis for the referral)."""
    implied: dict[str, str] = {
        PathwayDecision.URGENT_CLINIC: Management.CLINIC,
        PathwayDecision.ROUTINE_CLINIC: Management.CLINIC,
        PathwayDecision.BIOPSY: Management.BIOPSY,
        PathwayDecision.SURGERY: Management.EXCISION,
    }
    return implied.get(decision, Management.DISCHARGE)


def is_malignant(code: str) -> bool:
    """Malignant for concordance and safety netting: a cancer in the coded list (melanoma, BCC,
    SCC) or melanoma in situ (lentigo maligna), which is treated as melanoma."""
    from dermbridge.referrals.terminology import DIAGNOSES

    concept = DIAGNOSES.get(code)
    return bool(concept and concept.malignant) or code in USC_DIAGNOSES
