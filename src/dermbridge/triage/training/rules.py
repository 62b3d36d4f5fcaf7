"""Choosing the worst-plausible-class thresholds on the validation split (triage-v3 on).

The band follows the most severe class whose probability reaches its own threshold
(``calibration.plausible_band``): melanoma and SCC/IEC (HAM10000's ``akiec``) make it high, BCC
intermediate; below every threshold, the summed malignancy probability against the rule-out
threshold decides between intermediate and low.

* ``mel`` and ``akiec``: the pair of thresholds that puts the largest mean share of melanomas
  and of akiec lesions in the high band while no more than :data:`MAX_BENIGN_HIGH` of benign
  validation images land there (the same budget the summed-probability high cut-off of
  triage-v2 used: 90% of benign images below it);
* ``bcc``: the threshold that catches :data:`BCC_SENSITIVITY` of BCCs (so a BCC-looking lesion
  is never called low on the strength of a small summed probability).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dermbridge.triage import calibration, metrics
from dermbridge.triage.labels import CLASSES, MALIGNANT_INDICES

MAX_BENIGN_HIGH = 0.10
BCC_SENSITIVITY = 0.95
# The split-conformal rule-out threshold compared with the Clopper-Pearson one (ADR 0020).
CONFORMAL_ALPHA = 0.05
GRID = np.linspace(0.30, 0.995, 140)


def choose_class_thresholds(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Per-class thresholds from validation-split probabilities (calibrated, as shipped)."""
    mel, ak, bcc = (CLASSES.index(c) for c in ("mel", "akiec", "bcc"))
    benign = ~np.isin(labels, MALIGNANT_INDICES)
    cand_mel = np.unique(np.quantile(probs[:, mel], GRID))
    cand_ak = np.unique(np.quantile(probs[:, ak], GRID))
    best: tuple[float, float, float] | None = None
    for tm in cand_mel:
        hit_mel = probs[:, mel] >= tm
        for ta in cand_ak:
            high = hit_mel | (probs[:, ak] >= ta)
            if high[benign].mean() > MAX_BENIGN_HIGH:
                continue
            score = 0.5 * high[labels == mel].mean() + 0.5 * high[labels == ak].mean()
            if best is None or score > best[0] + 1e-12:
                best = (float(score), float(tm), float(ta))
    if best is None:  # nothing fits the budget (degenerate smoke runs): flag nothing as urgent
        best = (0.0, 1.0, 1.0)
    t_bcc = calibration.class_threshold(labels == bcc, probs[:, bcc], BCC_SENSITIVITY)
    return {"mel": best[1], "akiec": best[2], "bcc": t_bcc}


def band_metrics(
    probs: np.ndarray,
    labels: np.ndarray,
    thresholds: dict[str, float] | None,
    rule_out: float,
    high_cutoff: float,
) -> dict[str, Any]:
    """Operating-point numbers of a band rule (``thresholds`` None: the summed-probability rule)."""
    p_mal = probs[:, list(MALIGNANT_INDICES)].sum(axis=1)
    if thresholds is None:
        bands = np.array(
            [calibration.risk_band(float(p), rule_out, high_cutoff) for p in p_mal], dtype=object
        )
    else:
        bands = np.array(
            [
                calibration.plausible_band(
                    {c: float(row[i]) for i, c in enumerate(CLASSES)},
                    float(p),
                    thresholds,
                    rule_out,
                )
                for row, p in zip(probs, p_mal, strict=True)
            ],
            dtype=object,
        )
    mal = np.isin(labels, MALIGNANT_INDICES)
    mel = labels == CLASSES.index("mel")
    return {
        "sensitivity": float((bands[mal] != "low").mean()),
        "specificity": float((bands[~mal] == "low").mean()),
        "melanoma_sensitivity": float((bands[mel] != "low").mean()),
        "melanoma_high_band": float((bands[mel] == "high").mean()),
        "malignant_high_band": float((bands[mal] == "high").mean()),
        "benign_high_band": float((bands[~mal] == "high").mean()),
    }


def rule_out_comparison(
    cal: tuple[np.ndarray, np.ndarray, list[str] | None],
    val: tuple[np.ndarray, np.ndarray],
    thresholds: dict[str, float] | None,
    shipped: float,
    high_cutoff: float,
) -> list[dict[str, Any]]:
    """Rule-out thresholds under each guarantee, and what each gives on the validation split.

    ``cal`` is (summed malignancy probability, malignant or not, lesion ids or None) of the
    assessed calibration images, as the rule-out threshold was fitted on them; ``val``
    (probabilities, labels) of the validation images; ``shipped`` is the Clopper-Pearson
    threshold. The split-conformal threshold is fitted on images and, where lesion ids are given,
    on lesions (each malignant lesion's lowest score, so images of one lesion do not count as
    independent). Validation numbers use the band rule given (``thresholds``), as shipped.
    """
    p_mal, is_mal, lesions = cal
    candidates: list[tuple[str, str, float]] = [
        ("clopper_pearson", "lower two-sided 95% Clopper-Pearson bound >= 0.95 (images)", shipped)
    ]
    try:
        conformal = metrics.conformal_rule_out_threshold(is_mal, p_mal, CONFORMAL_ALPHA)[0]
        candidates.append(
            ("conformal_images", f"split conformal, alpha {CONFORMAL_ALPHA} (images)", conformal)
        )
    except ValueError:  # smoke runs: too few malignant images for any guarantee
        pass
    if lesions is not None:
        lowest: dict[str, float] = {}
        for lesion, p, m in zip(lesions, p_mal, is_mal, strict=True):
            if m:
                lowest[lesion] = min(lowest.get(lesion, np.inf), float(p))
        per_lesion = np.array(list(lowest.values()))
        try:
            by_lesion = metrics.conformal_rule_out_threshold(
                np.ones(len(per_lesion), dtype=bool), per_lesion, CONFORMAL_ALPHA
            )[0]
            candidates.append(
                (
                    "conformal_lesions",
                    f"split conformal, alpha {CONFORMAL_ALPHA} (lesions: each malignant "
                    "lesion's lowest score)",
                    by_lesion,
                )
            )
        except ValueError:
            pass
    rows = []
    for key, guarantee, threshold in candidates:
        ops = band_metrics(*val, thresholds, threshold, max(high_cutoff, threshold))
        rows.append(
            {
                "key": key,
                "guarantee": guarantee,
                "threshold": threshold,
                "calibration_malignant_caught": int((p_mal[is_mal] >= threshold).sum()),
                "calibration_malignant_total": int(is_mal.sum()),
                "validation_sensitivity": ops["sensitivity"],
                "validation_specificity": ops["specificity"],
                "validation_melanoma_sensitivity": ops["melanoma_sensitivity"],
                "shipped": key == "clopper_pearson",
            }
        )
    return rows
