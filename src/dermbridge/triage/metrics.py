"""Diagnostic-accuracy statistics in plain numpy (used by training, calibration and triage-eval).

No scipy or torch: the evaluation command runs in the web environment.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def auroc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tie correction); NaN if one class is absent."""
    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Average ranks over ties (vectorised rankdata).
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    avg_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = avg_rank[inverse]
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates over all thresholds (for plotting)."""
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-np.asarray(score), kind="mergesort")
    tp = np.concatenate([[0], np.cumsum(positive[order])])
    fp = np.concatenate([[0], np.cumsum(~positive[order])])
    return fp / max(1, fp[-1]), tp / max(1, tp[-1])


def per_class_recall(labels: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.full(n_classes, np.nan)
    for c in range(n_classes):
        mask = labels == c
        if mask.any():
            out[c] = float((pred[mask] == c).mean())
    return out


def balanced_accuracy(labels: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Mean per-class recall over the classes present."""
    rec = per_class_recall(labels, pred, n_classes)
    return float(np.nanmean(rec)) if np.isfinite(rec).any() else float("nan")


def macro_auroc(labels: np.ndarray, probs: np.ndarray) -> float:
    """One-vs-rest AUROC averaged over the classes present with both outcomes."""
    vals = [auroc(labels == c, probs[:, c]) for c in range(probs.shape[1])]
    finite = [v for v in vals if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def ece(labels: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence, equal-width bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            total += mask.mean() * abs(conf[mask].mean() - correct[mask].mean())
    return float(total)


def reliability(
    labels: np.ndarray, probs: np.ndarray, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin mean confidence, accuracy and count (for the reliability plot)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / np.maximum(counts, 1)
    acc = np.bincount(idx, weights=correct, minlength=n_bins) / np.maximum(counts, 1)
    return mean_conf, acc, counts


def _binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (exact, n up to a few thousand)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        for i in range(k, n + 1)
    ]
    m = max(terms)
    return min(1.0, math.exp(m) * sum(math.exp(t - m) for t in terms))


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided Clopper-Pearson interval for k successes out of n."""
    if n <= 0:
        return (0.0, 1.0)
    alpha = 1.0 - confidence

    def solve(f: Callable[[float], float], target: float) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):  # bisection to ~1e-18
            mid = 0.5 * (lo + hi)
            if f(mid) < target:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    lower = 0.0 if k == 0 else solve(lambda p: _binom_sf(k, n, p), alpha / 2)
    # Upper bound: P(X <= k | p) = alpha/2, i.e. 1 - sf(k+1) decreasing in p.
    upper = 1.0 if k == n else solve(lambda p: -(1.0 - _binom_sf(k + 1, n, p)), -alpha / 2)
    return (lower, upper)


def rule_out_threshold(
    malignant: np.ndarray, score: np.ndarray, min_lower_bound: float = 0.95
) -> tuple[float, int, int, float]:
    """Highest malignancy-score threshold whose sensitivity's lower 95% CP bound >= the target.

    A lesion is called "possibly malignant" when ``score >= threshold``. Returns (threshold,
    malignant cases caught, malignant cases, lower bound). Raising the threshold can only lose
    malignant cases, so the highest admissible threshold gives the best specificity.
    """
    malignant = np.asarray(malignant, dtype=bool)
    pos_scores = np.sort(np.asarray(score, dtype=np.float64)[malignant])
    n = len(pos_scores)
    if n == 0:
        raise ValueError("no malignant cases to fix a rule-out threshold on")
    best: tuple[float, int, int, float] | None = None
    # Candidate thresholds: each malignant score (catching it and everything above).
    for missed in range(n):
        caught = n - missed
        lo, _ = clopper_pearson(caught, n)
        if lo < min_lower_bound:
            break
        best = (float(pos_scores[missed]), caught, n, lo)
    if best is None:
        raise ValueError(
            f"even catching all {n} malignant cases the lower bound is below {min_lower_bound}; "
            "the calibration split is too small"
        )
    return best


def conformal_rule_out_threshold(
    malignant: np.ndarray, score: np.ndarray, alpha: float = 0.05
) -> tuple[float, int, int]:
    """Split-conformal rule-out threshold: the k-th lowest malignant score, k = floor(alpha (n+1)).

    For a new malignant case exchangeable with the n calibration ones, P(score >= threshold) >=
    1 - alpha, on average over the draw of the calibration set (Vovk et al. 2005; Angelopoulos
    and Bates 2021, section 1). That is weaker than :func:`rule_out_threshold`'s bound, which
    holds with 97.5% confidence for the threshold actually fixed. Returns (threshold, malignant
    cases caught, malignant cases).
    """
    malignant = np.asarray(malignant, dtype=bool)
    pos_scores = np.sort(np.asarray(score, dtype=np.float64)[malignant])
    n = len(pos_scores)
    k = math.floor(alpha * (n + 1))
    if k < 1:
        raise ValueError(
            f"{n} malignant cases are too few for a conformal guarantee at alpha {alpha} "
            f"(at least {math.ceil(1 / alpha) - 1} needed)"
        )
    threshold = float(pos_scores[k - 1])
    return threshold, int((pos_scores >= threshold).sum()), n


def bootstrap_ci(
    groups: Sequence[str],
    statistic: Callable[[np.ndarray], float],
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval resampling whole groups (lesions), not images.

    ``statistic`` receives an array of row indices (with repeats) and returns a number.
    """
    rng = np.random.default_rng(seed)
    uniq, inverse = np.unique(np.asarray(groups), return_inverse=True)
    rows_by_group = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        rows = np.concatenate([rows_by_group[g] for g in pick])
        v = statistic(rows)
        if not math.isnan(v):
            values.append(v)
    if not values:
        return (float("nan"), float("nan"))
    a = (1.0 - confidence) / 2.0
    return (float(np.quantile(values, a)), float(np.quantile(values, 1.0 - a)))
