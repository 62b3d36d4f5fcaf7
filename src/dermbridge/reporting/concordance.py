"""Concordance with histology (issue #14 item 5): for every lesion with a histology result,
the teledermatology diagnosis, the AI's reading by model version and the histology, side by
side; sensitivity for malignancy and specificity per dermatologist and per AI model version,
with Wilson 95% confidence intervals.

Definitions (docs/dashboard.md):
- truth: the lesion's histology is malignant (``severity.is_malignant``: melanoma, BCC, SCC,
  melanoma in situ); the most recent report counts when a lesion has several, unless an
  earlier one was malignant (a malignant result is never hidden);
- the dermatologist called it malignant when the diagnosis or any differential is a malignant
  or pre-malignant concept (as the AI's agreement in triage counts it);
- the AI called it malignant when its riskiest reading of the lesion's dermoscopic photos, for
  that model version, is in the high or intermediate band (as triage's agreement); a version
  that declined every photo of the lesion made no call and is left out of its figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from dermbridge.referrals import severity
from dermbridge.referrals.models import HistologyResult, LesionOutcome
from dermbridge.referrals.terminology import DIAGNOSES
from dermbridge.triage.models import Assessment

Z95 = 1.959963984540054


def wilson(successes: int, total: int) -> tuple[float, float] | None:
    """The Wilson score 95% interval for a proportion; None when there is nothing to count."""
    if total <= 0:
        return None
    p = successes / total
    denominator = 1 + Z95**2 / total
    centre = (p + Z95**2 / (2 * total)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / total + Z95**2 / (4 * total**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def suspects_malignancy(code: str, differential: list[str] | tuple[str, ...] = ()) -> bool:
    def one(c: str) -> bool:
        concept = DIAGNOSES.get(c)
        return bool(concept and (concept.malignant or concept.premalignant))

    return one(code) or any(one(c) for c in differential)


@dataclass(frozen=True)
class AiReading:
    model_version: str
    band: str
    malignant_probability: float | None
    probabilities: dict[str, float]

    @property
    def suspects_malignancy(self) -> bool:
        return self.band in ("high", "intermediate")

    @property
    def named_probabilities(self) -> list[tuple[str, float]]:
        """Each class by its plain clinical name (never the dataset's code), likeliest first."""
        from dermbridge.triage.labels import class_name

        ranked = sorted(self.probabilities.items(), key=lambda kv: -kv[1])
        return [(class_name(code), p) for code, p in ranked]


@dataclass(frozen=True)
class CaseRow:
    """One lesion with histology: what each said, side by side."""

    lesion_id: int
    reference: str
    lesion_number: int
    body_site: str
    biopsy_request_id: str
    dermatologist: str
    diagnosis_code: str
    diagnosis: str
    differential: tuple[str, ...]
    management: str
    dermatologist_positive: bool
    copied_from_referral: bool
    ai: tuple[AiReading, ...]
    histology_code: str
    histology: str
    histology_malignant: bool
    reported_on: date


@dataclass
class Counts:
    tp: int = 0
    fn: int = 0
    tn: int = 0
    fp: int = 0

    def add(self, called: bool, truth: bool) -> None:
        if truth:
            self.tp += called
            self.fn += not called
        else:
            self.fp += called
            self.tn += not called


@dataclass(frozen=True)
class Concordance:
    who: str  # a dermatologist's name or an AI model version
    cases: int
    malignant: int
    sensitivity: float | None
    sensitivity_ci: tuple[float, float] | None
    specificity: float | None
    specificity_ci: tuple[float, float] | None

    @classmethod
    def of(cls, who: str, n: Counts) -> Concordance:
        pos, neg = n.tp + n.fn, n.tn + n.fp
        return cls(
            who,
            pos + neg,
            pos,
            n.tp / pos if pos else None,
            wilson(n.tp, pos),
            n.tn / neg if neg else None,
            wilson(n.tn, neg),
        )


@dataclass
class ConcordanceReport:
    rows: list[CaseRow] = field(default_factory=list)
    by_dermatologist: list[Concordance] = field(default_factory=list)
    by_ai_version: list[Concordance] = field(default_factory=list)


def _deciding(results: list[HistologyResult]) -> HistologyResult:
    """A lesion's result for concordance: the latest, unless an earlier one was malignant."""
    malignant = [r for r in results if severity.is_malignant(r.morphology_code)]
    return (malignant or results)[-1]


def ai_readings(lesion_ids: list[int]) -> dict[int, list[AiReading]]:
    """Per lesion, the riskiest non-declined reading of each model version (dermoscopic
    photos: only they are assessed)."""
    rows = (
        Assessment.objects.filter(image__lesion_id__in=lesion_ids, abstained=False)
        .exclude(malignant_probability=None)
        .order_by("image__lesion_id", "model_version", "-malignant_probability", "id")
        .values_list(
            "image__lesion_id", "model_version", "band", "malignant_probability", "probabilities"
        )
    )
    out: dict[int, dict[str, AiReading]] = defaultdict(dict)
    for lesion_id, version, band, probability, probabilities in rows:
        out[lesion_id].setdefault(
            version, AiReading(version, band, probability, dict(probabilities or {}))
        )
    return {k: list(v.values()) for k, v in out.items()}


def concordance(
    service_id: int, start: date | None = None, end: date | None = None
) -> ConcordanceReport:
    """Every lesion of the service with histology (reported in [start, end] when given)."""
    results = HistologyResult.objects.filter(lesion__referral__service_id=service_id)
    if start is not None:
        results = results.filter(reported_on__gte=start)
    if end is not None:
        results = results.filter(reported_on__lte=end)
    per_lesion: dict[int, list[HistologyResult]] = defaultdict(list)
    for r in results.select_related("lesion__referral").order_by("reported_on", "id"):
        per_lesion[r.lesion_id].append(r)
    outcomes = {
        o.lesion_id: o
        for o in LesionOutcome.objects.filter(lesion_id__in=list(per_lesion)).select_related(
            "recorded_by"
        )
    }
    readings = ai_readings(list(per_lesion))
    report = ConcordanceReport()
    derm: dict[str, Counts] = defaultdict(Counts)
    ai: dict[str, Counts] = defaultdict(Counts)
    for lesion_id, lesion_results in per_lesion.items():
        result = _deciding(lesion_results)
        outcome = outcomes.get(lesion_id)
        if outcome is None:
            continue
        truth = severity.is_malignant(result.morphology_code)
        called = suspects_malignancy(outcome.diagnosis_code, outcome.differential)
        who = outcome.recorded_by.get_full_name() or outcome.recorded_by.get_username()
        if not outcome.from_referral_outcome:
            # A copy of a referral's one answer made by the per-lesion migration is not this
            # dermatologist's call about this lesion: it is not counted for them (ADR 0014).
            derm[who].add(called, truth)
        lesion_ai = readings.get(lesion_id, [])
        for reading in lesion_ai:
            ai[reading.model_version].add(reading.suspects_malignancy, truth)
        lesion = result.lesion
        report.rows.append(
            CaseRow(
                lesion_id=lesion_id,
                reference=lesion.referral.reference,
                lesion_number=lesion.number,
                body_site=lesion.body_site_label,
                biopsy_request_id=result.biopsy_request_id,
                dermatologist=who,
                diagnosis_code=outcome.diagnosis_code,
                diagnosis=outcome.diagnosis_term,
                differential=tuple(outcome.differential_terms),
                management=outcome.get_management_display(),
                dermatologist_positive=called,
                copied_from_referral=outcome.from_referral_outcome,
                ai=tuple(lesion_ai),
                histology_code=result.morphology_code,
                histology=result.morphology_term,
                histology_malignant=truth,
                reported_on=result.reported_on,
            )
        )
    report.rows.sort(key=lambda r: (r.reported_on, r.reference, r.lesion_number), reverse=True)
    report.by_dermatologist = [Concordance.of(k, v) for k, v in sorted(derm.items())]
    report.by_ai_version = [Concordance.of(k, v) for k, v in sorted(ai.items())]
    return report
