"""Drift monitor of the triage AI in the running service: per submitting organisation and week.

For each referring organisation and ISO week (of the assessment), for the model version that
made the assessments: how many photos were assessed, the share declined (and the share declined
by the image-statistics gate: the inputs themselves), the mean malignancy probability, the share
in the high band, and, where the dermatologist has answered, the AI–dermatologist agreement and
agreement with histology.

Limits come from the model's calibration split (``monitoring`` in its card): a count outside the
99.7% Clopper–Pearson range of the calibration rate for that week's number of photos, or a mean
probability more than three standard errors from the calibration mean, raises a warning. A week
with fewer than :data:`MIN_PHOTOS` photos is shown but never warned on (too few to tell). The
referral population differs from HAM10000 (fewer malignant lesions), so a low mean probability
or high-band share is expected; the limits flag change, not error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncWeek

from dermbridge.triage.inference import COLOUR_REASON, MODELS_DIR, OOD_REASON
from dermbridge.triage.metrics import clopper_pearson
from dermbridge.triage.models import Agreement, Assessment

MIN_PHOTOS = 20
CONFIDENCE = 0.997


@lru_cache(maxsize=16)
def reference(version: str) -> dict[str, Any] | None:
    """The calibration-split reference values of a model version, from its card (None if the card
    is gone or has none: such weeks are shown without limits)."""
    path = MODELS_DIR / f"{version}.json"
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ref = card.get("monitoring")
    return ref if isinstance(ref, dict) else None


@dataclass
class DriftRow:
    organisation: str
    week: date
    model_version: str
    photos: int
    declined: int
    declined_by_gate: int
    not_dermoscopic: int
    mean_malignant_probability: float | None
    high_band: int
    agreement_cases: int = 0
    agreed: int = 0
    histology_cases: int = 0
    histology_agreed: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def declined_rate(self) -> float:
        return self.declined / self.photos if self.photos else 0.0

    @property
    def agreement_rate(self) -> float | None:
        return self.agreed / self.agreement_cases if self.agreement_cases else None


def _outside(count: int, n: int, rate: float) -> str | None:
    """'above'/'below' when ``count`` of ``n`` is outside the range a ``rate`` would give."""
    lo, hi = clopper_pearson(round(rate * n), n, CONFIDENCE)
    observed = count / n
    if observed > hi:
        return "above"
    if observed < lo:
        return "below"
    return None


def check(row: DriftRow, ref: dict[str, Any] | None) -> list[str]:
    """Warnings for one organisation-week against the calibration reference."""
    if ref is None or row.photos < MIN_PHOTOS:
        return []
    out = []
    side = _outside(row.declined, row.photos, float(ref["abstention_rate"]))
    if side:
        out.append(
            f"declined {row.declined_rate:.0%} of photos, {side} the expected "
            f"{float(ref['abstention_rate']):.0%}"
        )
    assessed = row.photos - row.declined
    if assessed >= MIN_PHOTOS and row.mean_malignant_probability is not None:
        se = float(ref["malignant_probability_sd"]) / math.sqrt(assessed)
        mean = float(ref["malignant_probability_mean"])
        if abs(row.mean_malignant_probability - mean) > 3 * se:
            side = "above" if row.mean_malignant_probability > mean else "below"
            out.append(
                f"mean malignancy probability {row.mean_malignant_probability:.2f}, {side} the "
                f"calibration {mean:.2f}"
            )
        side = _outside(row.high_band, assessed, float(ref["high_band_rate"]))
        if side:
            out.append(f"high band {row.high_band / assessed:.0%}, {side} the expected range")
    if row.agreement_cases >= MIN_PHOTOS:
        side = _outside(row.agreed, row.agreement_cases, float(ref["agreement_rate"]))
        if side == "below":
            out.append(
                f"AI–dermatologist agreement {row.agreed / row.agreement_cases:.0%}, below the "
                f"{float(ref['agreement_rate']):.0%} the calibration data give"
            )
    return out


def drift(service_id: int, first: Any, after: Any) -> list[DriftRow]:
    """Organisation-week rows (week of the referral's submission) for a service's referrals
    submitted in [first, after), newest week first, each with its warnings. Two queries."""
    not_dermoscopic = Q(abstention_reason__in=[COLOUR_REASON, OOD_REASON])
    by_gate = Q(abstained=True) & ~not_dermoscopic
    rows = (
        Assessment.objects.filter(
            image__lesion__referral__service_id=service_id,
            image__lesion__referral__submitted_at__gte=first,
            image__lesion__referral__submitted_at__lt=after,
        )
        .annotate(week=TruncWeek("image__lesion__referral__submitted_at"))
        .values("image__lesion__referral__referring_org__name", "week", "model_version")
        .annotate(
            photos=Count("id"),
            declined=Count("id", filter=Q(abstained=True)),
            not_dermoscopic=Count("id", filter=not_dermoscopic),
            by_gate=Count("id", filter=by_gate),
            high=Count("id", filter=Q(band="high")),
            sum_p=Sum("malignant_probability"),
        )
    )
    out: dict[tuple[str, date, str], DriftRow] = {}
    for r in rows:
        week = _day(r["week"])
        assessed = r["photos"] - r["declined"]
        key = (r["image__lesion__referral__referring_org__name"], week, r["model_version"])
        out[key] = DriftRow(
            organisation=key[0],
            week=week,
            model_version=key[2],
            photos=r["photos"],
            declined=r["declined"],
            declined_by_gate=r["by_gate"],
            not_dermoscopic=r["not_dermoscopic"],
            mean_malignant_probability=(
                float(r["sum_p"]) / assessed if assessed and r["sum_p"] is not None else None
            ),
            high_band=r["high"],
        )
    agreed = Q(ai_suggests_malignant=F("dermatologist_malignant"))
    histo = Q(histology_malignant__isnull=False)
    agreements = (
        Agreement.objects.filter(
            referral__service_id=service_id,
            referral__submitted_at__gte=first,
            referral__submitted_at__lt=after,
        )
        .annotate(week=TruncWeek("referral__submitted_at"))
        .values("referral__referring_org__name", "week", "model_version")
        .annotate(
            cases=Count("id"),
            agreed=Count("id", filter=agreed),
            histology=Count("id", filter=histo),
            histology_agreed=Count(
                "id", filter=histo & Q(ai_suggests_malignant=F("histology_malignant"))
            ),
        )
    )
    for a in agreements:
        row = out.get((a["referral__referring_org__name"], _day(a["week"]), a["model_version"]))
        if row is not None:
            row.agreement_cases += a["cases"]
            row.agreed += a["agreed"]
            row.histology_cases += a["histology"]
            row.histology_agreed += a["histology_agreed"]
    result = sorted(out.values(), key=lambda r: (r.week, r.organisation), reverse=True)
    for row in result:
        row.warnings = check(row, reference(row.model_version))
    return result


def _day(value: Any) -> date:
    return value.date() if hasattr(value, "date") else value
