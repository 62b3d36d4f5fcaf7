"""How an AI assessment is shown to clinicians: plain clinical names, risk colours with words,
a one-line meaning for each band, and an uncertainty range that always holds the estimate.

One place for these words and colours, used by the review page, the worklist badge and filter,
and anything else that shows the AI's answer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from dermbridge.triage.calibration import interval_for
from dermbridge.triage.inference import MODELS_DIR
from dermbridge.triage.labels import MALIGNANT, class_name

if TYPE_CHECKING:
    from dermbridge.triage.models import Assessment

# Referral-level AI states beyond the model's three risk bands (Referral.ai_band).
DECLINED = "declined"  # the AI looked at a dermoscopic photo and declined to assess it
NO_PHOTO = ""  # stored ai_band when nothing was assessed: no dermoscopic photo, or not yet
PENDING = "pending"  # shown only: a dermoscopic photo the AI has not assessed (yet)


@dataclass(frozen=True)
class Band:
    """One AI state as shown: a short label, an NHS.UK tag colour, a one-line meaning."""

    key: str
    label: str
    tag: str  # nhsuk-tag--<tag>: NHS.UK palette; the label always says it in words too
    meaning: str


BANDS: dict[str, Band] = {
    "high": Band(
        "high",
        "High risk",
        "red",
        "High: scored above 9 in 10 benign lesions in testing. Consider the urgent suspected "
        "cancer pathway.",
    ),
    "intermediate": Band(
        "intermediate",
        "Intermediate risk",
        "orange",
        "Intermediate: above the rule-out level but not high. The AI cannot rule cancer out; "
        "decide on the whole clinical picture.",
    ),
    "low": Band(
        "low",
        "Low risk",
        "green",
        "Low: below the rule-out level, where the AI caught 99 in 100 cancers in testing. May "
        "suit discharge, if you agree.",
    ),
    DECLINED: Band(
        DECLINED,
        "AI declined to assess",
        "purple",
        "The AI looked and declined: the photo is unlike the dermoscopic photos it knows, or "
        "too poor to read. Judge it without the AI; it is never treated as low risk.",
    ),
    PENDING: Band(
        PENDING,
        "Not assessed by the AI yet",
        "white",
        "A dermoscopic photo is waiting for the AI (or the AI is unavailable): judge it yourself.",
    ),
    "none": Band(
        "none",
        "No dermoscopic photo",
        "grey",
        "Nothing for the AI to assess: it reads dermoscopic photos only, and there is none yet.",
    ),
}


def band(key: str, *, has_dermoscopic: bool = False) -> Band:
    """The shown form of a band or referral AI state. "" (nothing assessed) is "No dermoscopic
    photo", or "Not assessed by the AI yet" when the case has a dermoscopic photo."""
    if not key:
        return BANDS[PENDING] if has_dermoscopic else BANDS["none"]
    return BANDS.get(key, BANDS["none"])


def worklist_band_choices() -> list[tuple[str, str]]:
    """The worklist's AI filter: every state a referral can be in, in risk order."""
    return [(b.key, b.label) for b in BANDS.values()]


@cache
def _card(version: str) -> dict[str, Any] | None:
    path = MODELS_DIR / f"{version}.json"
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def thresholds(version: str) -> tuple[float, float] | None:
    """(rule-out, high cut-off) of a model version, from its card; None if the card is gone."""
    card = _card(version)
    if card is None:
        return None
    return float(card["rule_out_threshold"]), float(card["high_band_cutoff"])


def shown_interval(assessment: Assessment) -> tuple[float, float] | None:
    """The uncertainty range to show: the stored one when it holds the estimate; otherwise
    (assessments stored before 2026-11-30 kept the calibration bin's interval alone, which
    could miss the estimate) recomputed from the model's card; None if neither can be had."""
    p = assessment.malignant_probability
    if p is None or not math.isfinite(p):
        return None
    stored = assessment.malignant_interval or []
    if len(stored) == 2 and float(stored[0]) <= p <= float(stored[1]):
        return float(stored[0]), float(stored[1])
    card = _card(assessment.model_version)
    bins = (card or {}).get("malignant_rate_bins")
    if not bins:
        return None
    return interval_for(
        p, list(bins["inner_edges"]), [tuple(i) for i in bins["intervals"]], bins.get("counts")
    )


@dataclass(frozen=True)
class ClassRow:
    name: str
    probability: float
    malignant: bool


@dataclass(frozen=True)
class AssessmentView:
    """Everything the AI panel shows for one photo's assessment."""

    assessment: Assessment
    band: Band
    percent: int | None
    interval: tuple[int, int] | None
    classes: list[ClassRow]
    rule_out: float | None
    high_cutoff: float | None
    reason: str

    @property
    def declined(self) -> bool:
        return self.band.key == DECLINED


def percent(p: float) -> int:
    return round(100 * p)


def view(assessment: Assessment) -> AssessmentView:
    cuts = thresholds(assessment.model_version)
    if assessment.abstained or assessment.malignant_probability is None:
        return AssessmentView(
            assessment,
            BANDS[DECLINED],
            None,
            None,
            [],
            None,
            None,
            assessment.abstention_reason or "the model was not confident",
        )
    p = float(assessment.malignant_probability)
    interval = shown_interval(assessment)
    classes = sorted(
        (
            ClassRow(class_name(code), float(prob), code in MALIGNANT)
            for code, prob in (assessment.probabilities or {}).items()
        ),
        key=lambda row: -row.probability,
    )
    return AssessmentView(
        assessment,
        band(assessment.band),
        percent(p),
        # Rounded outwards so the rounded estimate stays inside the rounded range.
        (math.floor(100 * interval[0]), math.ceil(100 * interval[1])) if interval else None,
        classes,
        cuts[0] if cuts else None,
        cuts[1] if cuts else None,
        "",
    )
