"""Post-hoc logit adjustment (Menon et al. 2021, "Long-tail learning via logit adjustment", §4).

A network trained on an imbalanced split scores rare classes low; the balanced-error-optimal
decision subtracts ``tau * log(prior)`` from its logits (prior: the training split's class
frequencies). triage-v2's loss already weighted classes by frequency^-0.5, which alone would
make tau = 0.5 the balancing value for a perfectly fitted network; tau is chosen here on the
validation split only, from a grid, after refitting the temperature with the adjustment fixed
on the calibration split:

    p = softmax(z / T - tau * log(prior))

so calibration, the rule-out threshold and the band thresholds are all refitted on the adjusted
probabilities (the training pipeline does that when the adjustment is chosen).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dermbridge.triage import calibration, metrics
from dermbridge.triage.labels import CLASSES, MALIGNANT_INDICES

TAUS = tuple(round(0.05 * i, 2) for i in range(31))  # 0.00, 0.05, ..., 1.50


def train_prior(labels: np.ndarray) -> np.ndarray:
    """Class frequencies of the training split (every class counted at least once)."""
    counts = np.maximum(np.bincount(labels, minlength=len(CLASSES)).astype(np.float64), 1.0)
    return counts / counts.sum()


def adjustment(prior: np.ndarray, tau: float) -> np.ndarray:
    """The per-class logit offset -tau * log(prior), shifted so the first class's is 0."""
    b = -tau * np.log(np.asarray(prior, dtype=np.float64))
    return b - b[0]


def scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Validation numbers of one set of probabilities (arg-max decisions)."""
    pred = probs.argmax(axis=1)
    malignant = np.isin(labels, MALIGNANT_INDICES)
    p_mal = probs[:, list(MALIGNANT_INDICES)].sum(axis=1)
    out = {
        "accuracy": float((pred == labels).mean()),
        "balanced_accuracy": metrics.balanced_accuracy(labels, pred, len(CLASSES)),
        "malignant_auroc": metrics.auroc(malignant, p_mal),
        "ece": metrics.ece(labels, probs),
        "nll": float(-np.log(probs[np.arange(len(labels)), labels] + 1e-12).mean()),
    }
    # The training's model-selection score: equal weight to both product targets.
    out["selection_score"] = 0.5 * (out["balanced_accuracy"] + out["malignant_auroc"])
    return out


def sweep(
    cal_logits: np.ndarray,
    y_cal: np.ndarray,
    val_logits: np.ndarray,
    y_val: np.ndarray,
    prior: np.ndarray,
    taus: tuple[float, ...] = TAUS,
) -> list[dict[str, Any]]:
    """For each tau: the temperature fitted on calibration with the offset fixed, the ECE of
    the adjusted probabilities there (``calibration_ece``), and their validation numbers."""
    rows = []
    cal_z = np.asarray(cal_logits, np.float64)
    for tau in taus:
        bias = adjustment(prior, tau)
        t = calibration.fit_temperature(cal_logits, y_cal, bias)
        probs = metrics.softmax(np.asarray(val_logits, np.float64) / t + bias)
        cal_ece = metrics.ece(y_cal, metrics.softmax(cal_z / t + bias))
        rows.append(
            {"tau": tau, "temperature": t, "calibration_ece": cal_ece, **scores(probs, y_val)}
        )
    return rows


def choose(rows: list[dict[str, Any]], max_calibration_ece: float | None = None) -> dict[str, Any]:
    """The row with the highest validation selection score (the smaller tau on a tie).

    With ``max_calibration_ece``, only among the rows whose calibration-split ECE meets it (all
    rows when none does): a strong adjustment that breaks calibration must not hide a milder
    one that keeps it, since the calibration choice would then drop the adjustment altogether.
    """
    if max_calibration_ece is not None:
        rows = [r for r in rows if r["calibration_ece"] <= max_calibration_ece] or rows
    return max(rows, key=lambda r: (round(r["selection_score"], 6), -r["tau"]))


def paired_difference(
    val_logits: np.ndarray,
    y_val: np.ndarray,
    lesions: list[str],
    prior: np.ndarray,
    base: dict[str, Any],
    chosen: dict[str, Any],
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Validation difference (chosen minus base) in balanced accuracy, accuracy and malignant
    AUROC with 95% intervals resampling lesions: is the gain more than noise on 598 images?"""
    z = np.asarray(val_logits, dtype=np.float64)
    p0 = metrics.softmax(z / base["temperature"] + adjustment(prior, base["tau"]))
    p1 = metrics.softmax(z / chosen["temperature"] + adjustment(prior, chosen["tau"]))
    pred0, pred1 = p0.argmax(1), p1.argmax(1)
    mal = np.isin(y_val, MALIGNANT_INDICES)
    m0 = p0[:, list(MALIGNANT_INDICES)].sum(1)
    m1 = p1[:, list(MALIGNANT_INDICES)].sum(1)
    k = len(CLASSES)
    stats = {
        "balanced_accuracy": lambda r: (
            metrics.balanced_accuracy(y_val[r], pred1[r], k)
            - metrics.balanced_accuracy(y_val[r], pred0[r], k)
        ),
        "accuracy": lambda r: float((pred1[r] == y_val[r]).mean() - (pred0[r] == y_val[r]).mean()),
        "malignant_auroc": lambda r: metrics.auroc(mal[r], m1[r]) - metrics.auroc(mal[r], m0[r]),
    }
    rows = np.arange(len(y_val))
    return {
        name: {"difference": fn(rows), "ci": list(metrics.bootstrap_ci(lesions, fn, n_boot))}
        for name, fn in stats.items()
    }
