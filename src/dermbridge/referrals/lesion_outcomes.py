"""The dermatologist's answer for each lesion of a referral (issue #14 item 1): checked here,
written by decisions.record_outcome in the same transaction as the referral's outcome.

Input, per lesion: ``{"lesion": <number>, "diagnosis_code", "differential": [codes, up to 3],
"management", "review_date"}``. Errors are keyed ``lesions[<number>].<field>`` and name the
lesion by its number and body site, so the summary of a long form still says which one.
A caller that sends one diagnosis for the whole referral (older API clients, the personas) gets
that diagnosis for every lesion, with the management its decision implies -- the same rule as
the data migration (docs/adr/0014-per-lesion-outcome.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils import timezone

from dermbridge.referrals import severity
from dermbridge.referrals.models import (
    Lesion,
    LesionOutcome,
    Management,
    PathwayDecision,
    Referral,
    biopsy_request_id,
)
from dermbridge.referrals.terminology import DIAGNOSES

MAX_DIFFERENTIAL = 3


@dataclass
class CleanLesionOutcome:
    lesion: Lesion
    diagnosis_code: str
    management: str
    differential: list[str] = field(default_factory=list)
    review_date: date | None = None

    @property
    def call(self) -> severity.LesionCall:
        return severity.LesionCall(
            self.lesion.number, self.diagnosis_code, self.management, tuple(self.differential)
        )


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _where(lesion: Lesion) -> str:
    return f"Lesion {lesion.number} ({lesion.body_site_label})"


def from_referral_diagnosis(
    lesions: Sequence[Lesion], diagnosis_code: Any, decision: Any
) -> list[dict[str, Any]]:
    """One referral-level diagnosis as the same answer for each lesion."""
    management = severity.management_for_decision(str(decision or ""))
    return [
        {"lesion": lesion.number, "diagnosis_code": diagnosis_code, "management": management}
        for lesion in lesions
    ]


def clean(
    action: str, lesions: Sequence[Lesion], given: Sequence[Mapping[str, Any]] | Any
) -> tuple[list[CleanLesionOutcome], dict[str, list[str]]]:
    """Every lesion's answer checked; (cleaned, field errors)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(given, (list, tuple)):
        return [], {"lesions": ["Give an outcome for each lesion, as a list."]}
    by_number: dict[int, Mapping[str, Any]] = {}
    for item in given:
        try:
            by_number[int(item.get("lesion"))] = item
        except (AttributeError, TypeError, ValueError):
            errors.setdefault("lesions", []).append(
                "Each lesion's outcome needs 'lesion': the lesion's number."
            )
    numbers = {lesion.number for lesion in lesions}
    unknown = sorted(set(by_number) - numbers)
    if unknown:
        errors.setdefault("lesions", []).append(
            f"This referral has no lesion {', '.join(map(str, unknown))}."
        )
    cleaned: list[CleanLesionOutcome] = []
    today = timezone.localdate()
    for lesion in lesions:
        key = f"lesions[{lesion.number}]"
        where = _where(lesion)
        item = by_number.get(lesion.number)
        if item is None:
            errors[f"{key}.diagnosis_code"] = [f"{where}: give this lesion's diagnosis and plan."]
            continue
        code = str(item.get("diagnosis_code") or "")
        if code not in DIAGNOSES:
            errors[f"{key}.diagnosis_code"] = [f"{where}: choose a diagnosis from the coded list."]
        raw_diff = item.get("differential") or []
        if isinstance(raw_diff, str):
            raw_diff = [raw_diff]
        differential = [str(c) for c in raw_diff if c]
        if len(differential) > MAX_DIFFERENTIAL:
            errors[f"{key}.differential"] = [
                f"{where}: give at most {MAX_DIFFERENTIAL} differential diagnoses."
            ]
        elif any(c not in DIAGNOSES for c in differential):
            errors[f"{key}.differential"] = [
                f"{where}: choose each differential diagnosis from the coded list."
            ]
        elif code in differential or len(set(differential)) != len(differential):
            errors[f"{key}.differential"] = [
                f"{where}: list each differential diagnosis once, apart from the diagnosis."
            ]
        management = str(item.get("management") or "")
        review = _date(item.get("review_date"))
        if management not in Management.values:
            errors[f"{key}.management"] = [
                f"{where}: choose discharge, monitor, biopsy, excision or refer to clinic."
            ]
        elif action == "give_advice" and management not in severity.PRIMARY_CARE_MANAGEMENT:
            errors[f"{key}.management"] = [
                f"{where}: Advice & Guidance answers with discharge or monitoring; convert the "
                "request to a referral for biopsy, excision or clinic."
            ]
        elif code in severity.USC_DIAGNOSES and management in severity.PRIMARY_CARE_MANAGEMENT:
            errors[f"{key}.management"] = [
                f"{where}: a suspected {DIAGNOSES[code].label.lower()} is not discharged or "
                "monitored; choose biopsy, excision or refer to clinic."
            ]
        if management == Management.MONITOR:
            if review is None:
                errors[f"{key}.review_date"] = [
                    f"{where}: enter the review date (for example {today.replace(year=today.year + 1).isoformat()})."
                    if item.get("review_date") in (None, "")
                    else f"{where}: the review date must be a date, such as 2027-03-01."
                ]
            elif review <= today:
                errors[f"{key}.review_date"] = [f"{where}: the review date must be in the future."]
        else:
            review = None
        cleaned.append(CleanLesionOutcome(lesion, code, management, differential, review))
    return cleaned, errors


def decide(
    action: str, cleaned: Sequence[CleanLesionOutcome], chosen: Any
) -> tuple[str, dict[str, list[str]]]:
    """The referral's decision: the worst lesion's, or a more urgent one the dermatologist chose."""
    worst = severity.worst(c.call for c in cleaned)
    derived = severity.decision_for(worst, advice=action == "give_advice")
    if not chosen:
        return derived, {}
    if chosen not in PathwayDecision.values:
        return derived, {"pathway_decision": ["Choose where the patient goes next."]}
    if severity.DECISION_RANK[PathwayDecision(chosen)] < severity.minimum_rank(
        worst, advice=action == "give_advice"
    ):
        lesion = next(c.lesion for c in cleaned if worst and c.lesion.number == worst.number)
        return derived, {
            "pathway_decision": [
                f"{_where(lesion)} needs “{PathwayDecision(derived).label}”: the referral's "
                "decision cannot be less urgent than its most urgent lesion."
            ]
        }
    return chosen, {}


def write(referral: Referral, cleaned: Sequence[CleanLesionOutcome], user: Any) -> None:
    """Save each lesion's answer; a biopsy request identifier is issued the first time a lesion's
    management takes tissue, and kept if it is answered again."""
    now = timezone.now()
    for c in cleaned:
        existing = LesionOutcome.objects.filter(lesion=c.lesion).first()
        request_id = existing.biopsy_request_id if existing else None
        if c.management in severity.TISSUE_MANAGEMENT and not request_id:
            request_id = biopsy_request_id(referral, c.lesion.number)
        LesionOutcome.objects.update_or_create(
            lesion=c.lesion,
            defaults={
                "diagnosis_code": c.diagnosis_code,
                "differential": c.differential,
                "management": c.management,
                "review_date": c.review_date,
                "biopsy_request_id": request_id,
                "from_referral_outcome": False,
                "recorded_by": user,
                "recorded_at": now,
            },
        )


def referral_diagnosis(cleaned: Sequence[CleanLesionOutcome]) -> str:
    """The referral-level diagnosis kept on Outcome (older readers, the AI's agreement): the
    worst lesion's."""
    worst = severity.worst(c.call for c in cleaned)
    return worst.diagnosis_code if worst else ""


# What happens to one lesion, in plain English for the patient's status page.
PATIENT_MANAGEMENT = {
    Management.DISCHARGE: "No hospital treatment is needed. Your GP can help if it changes.",
    Management.MONITOR: "The skin specialist wants to check it again by {date}.",
    Management.BIOPSY: "A small sample (a biopsy) will be taken to look at under a microscope.",
    Management.EXCISION: "It will be removed in a small operation and looked at under a microscope.",
    Management.CLINIC: "You will be offered a hospital appointment so a specialist can see it.",
}


def patient_lines(referral: Referral) -> list[tuple[str, str, str]]:
    """(which mark, what it probably is, what happens next) for each answered lesion, in
    lesion order: the patient's page covers every lesion, not only the worst."""
    rows = LesionOutcome.objects.filter(lesion__referral=referral).select_related("lesion")
    lines = []
    for row in rows.order_by("lesion__number"):
        lesion = row.lesion
        side = f"{lesion.get_laterality_display().lower()} " if lesion.laterality else ""
        where = f"Mark {lesion.number}: {side}{lesion.body_site_label.lower()}"
        what = PATIENT_MANAGEMENT[Management(row.management)].format(
            date=row.review_date.strftime("%-d %B %Y") if row.review_date else ""
        )
        lines.append((where, row.diagnosis_label, what))
    return lines
