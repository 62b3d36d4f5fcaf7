"""Post-hoc calibration, operating point, risk bands and the out-of-distribution detector.

All fitted on held-out data (the calibration split, or the training split for the feature-space
detector) in plain numpy, so the same code can be tested without torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dermbridge.triage.metrics import clopper_pearson, softmax


def nll(
    logits: np.ndarray, labels: np.ndarray, temperature: float, bias: np.ndarray | None = None
) -> float:
    z = np.asarray(logits, dtype=np.float64) / temperature
    p = softmax(z if bias is None else z + bias)
    return float(-np.log(p[np.arange(len(labels)), labels] + 1e-12).mean())


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, bias: np.ndarray | None = None
) -> float:
    """Temperature minimising the negative log-likelihood (Guo et al. 2017), by golden section.

    The NLL is unimodal in log T, so a 1-D golden-section search over T in [0.05, 20] suffices.
    With ``bias`` (a fixed per-class logit offset, such as a logit adjustment) the probabilities
    are softmax(z / T + bias) and only T is fitted.
    """
    lo, hi = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits, labels, math.exp(a), bias), nll(logits, labels, math.exp(b), bias)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits, labels, math.exp(a), bias)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits, labels, math.exp(b), bias)
    return float(math.exp(0.5 * (lo + hi)))


def fit_temperature_and_bias(
    logits: np.ndarray, labels: np.ndarray, steps: int = 3000, lr: float = 0.02
) -> tuple[float, np.ndarray]:
    """Bias-corrected temperature scaling (Alexandari et al. 2020): softmax(z / T + b).

    The per-class bias re-estimates class priors that a class-weighted training loss distorted;
    the first class's bias is fixed at 0 (only differences matter). Fitted by Adam on the NLL,
    starting from plain temperature scaling.
    """
    z = np.asarray(logits, dtype=np.float64)
    n, k = z.shape
    onehot = np.eye(k)[labels]
    params = np.zeros(k + 1)
    params[0] = math.log(fit_temperature(z, labels))
    m, v = np.zeros_like(params), np.zeros_like(params)
    for t in range(1, steps + 1):
        temp = math.exp(params[0])
        p = softmax(z / temp + params[1:])
        d = (p - onehot) / n
        grad = np.empty_like(params)
        grad[0] = float((d * (-z / temp)).sum())  # d/d(log T)
        grad[1:] = d.sum(axis=0)
        grad[1] = 0.0
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        params -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-12)
    return float(math.exp(params[0])), params[1:].copy()


def high_band_cutoff(benign_scores: np.ndarray, specificity: float = 0.9) -> float:
    """Malignancy probability above which a lesion is in the high band (suggest USC referral).

    Chosen so that ``specificity`` of benign calibration lesions fall below it: the high band
    then flags about 1 - specificity of benign lesions whatever the local prevalence.
    """
    return float(np.quantile(np.asarray(benign_scores, dtype=np.float64), specificity))


def malignant_rate_bins(
    malignant: np.ndarray, score: np.ndarray, n_bins: int = 10
) -> tuple[list[float], list[tuple[float, float]]]:
    """Observed malignant rate per score bin, as exact 95% Clopper-Pearson intervals.

    Bins are quantiles of the calibration split's malignancy probabilities, so each holds about
    the same number of images. At run time a lesion's interval is the one of its bin: "among
    calibration lesions scored like this one, between lo and hi were malignant". Returns the
    inner bin edges and one interval per bin.
    """
    score = np.asarray(score, dtype=np.float64)
    malignant = np.asarray(malignant, dtype=bool)
    inner = np.unique(np.quantile(score, np.linspace(0, 1, n_bins + 1)[1:-1]))
    idx = np.searchsorted(inner, score, side="right")
    intervals = [
        clopper_pearson(int(malignant[idx == b].sum()), int((idx == b).sum()))
        for b in range(len(inner) + 1)
    ]
    return [float(e) for e in inner], intervals


def bin_counts(
    malignant: np.ndarray, score: np.ndarray, inner_edges: list[float]
) -> list[list[int]]:
    """[malignant, images] per score bin (the evidence behind each bin's interval)."""
    score = np.asarray(score, dtype=np.float64)
    malignant = np.asarray(malignant, dtype=bool)
    idx = np.searchsorted(np.asarray(inner_edges), score, side="right")
    return [
        [int(malignant[idx == b].sum()), int((idx == b).sum())] for b in range(len(inner_edges) + 1)
    ]


def wilson_interval(p: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion p seen among n: every rate the score test would not
    reject at 95%. It always contains p itself (the test statistic is 0 there), for any n > 0."""
    p = min(1.0, max(0.0, float(p)))
    if n <= 0:
        return (0.0, 1.0)
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z2n)
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def interval_for(
    probability: float,
    inner_edges: list[float],
    intervals: list[tuple[float, float]],
    counts: list[list[int]] | None = None,
) -> tuple[float, float]:
    """The uncertainty range shown beside a malignancy probability; it always contains it.

    Two things bound how far the calibrated probability p can be trusted at this level, and the
    range covers both: (1) the Wilson 95% interval around p itself given the n calibration
    images in its score bin (how precisely n images can pin a rate near p), and (2) that bin's
    exact 95% interval of the malignant rate actually observed. Showing only (2) once displayed
    "33%, likely between 16% and 32%": the bin's observed rate (27 of 115) sat below p, and the
    estimate fell outside its own range. The union is at least as wide as either, so it never
    hides the disagreement and always contains p. Without counts (an old card), n is taken
    as 100, roughly a decile of a calibration split.
    """
    b = int(np.searchsorted(np.asarray(inner_edges), probability, side="right"))
    n = int(counts[b][1]) if counts and b < len(counts) else 100
    w_lo, w_hi = wilson_interval(probability, n)
    lo, hi = intervals[b]
    return (float(min(w_lo, lo)), float(max(w_hi, hi)))


Band = str  # "high" | "intermediate" | "low"


def risk_band(malignant_probability: float, rule_out: float, high: float) -> Band:
    """High: suggest urgent suspected-cancer referral. Low: below the rule-out threshold, so
    eligible for the discharge pathway (a suggestion for the clinician, never an automatic
    discharge). Intermediate: everything between."""
    if malignant_probability >= high:
        return "high"
    if malignant_probability >= rule_out:
        return "intermediate"
    return "low"


# The worst-plausible-class rule (triage-v3 on): the malignant classes from most to least severe.
# HAM10000's "akiec" merges actinic keratosis with intraepidermal carcinoma (Bowen's, an SCC in
# situ); it cannot be split, so it is ranked with melanoma in the urgent tier (the safe side).
SEVERITY: tuple[str, ...] = ("mel", "akiec", "bcc")
URGENT_CLASSES: tuple[str, ...] = ("mel", "akiec")


def worst_plausible(probabilities: dict[str, float], thresholds: dict[str, float]) -> str | None:
    """The most severe class whose probability reaches its own threshold, or None (benign)."""
    for code in SEVERITY:
        if code in thresholds and probabilities.get(code, 0.0) >= thresholds[code]:
            return code
    return None


def plausible_band(
    probabilities: dict[str, float],
    malignant_probability: float,
    thresholds: dict[str, float],
    rule_out: float,
) -> Band:
    """Band by the worst plausible class, not the arg-max: high when melanoma or SCC/IEC
    (``akiec``) reaches its threshold; intermediate when BCC does, or when the summed malignancy
    probability reaches the rule-out threshold; low otherwise. The low band therefore never
    holds more than the rule-out threshold lets through, so its sensitivity guarantee stands."""
    worst = worst_plausible(probabilities, thresholds)
    if worst in URGENT_CLASSES:
        return "high"
    if worst is not None or malignant_probability >= rule_out:
        return "intermediate"
    return "low"


def class_threshold(is_class: np.ndarray, scores: np.ndarray, sensitivity: float) -> float:
    """Highest threshold on a class's probability that still catches ``sensitivity`` of it."""
    pos = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(is_class, dtype=bool)])
    if len(pos) == 0:
        return 1.0
    missed = int(np.floor((1.0 - sensitivity) * len(pos) + 1e-9))
    return float(pos[min(missed, len(pos) - 1)])


@dataclass(frozen=True)
class MahalanobisDetector:
    """Feature-space novelty detector (Lee et al. 2018): distance to the nearest class mean under a
    shared within-class covariance, fitted on penultimate-layer features of the training split.

    ``whitening`` maps a centred feature vector to coordinates where that covariance is identity,
    so the squared distance is a plain sum of squares.
    """

    means: np.ndarray  # (classes, features)
    whitening: np.ndarray  # (features, features)
    threshold: float  # squared distance above which the image is declined

    @cached_property
    def _projected_centres(self) -> np.ndarray:
        return np.asarray(self.means, dtype=np.float32) @ np.asarray(self.whitening, np.float32)

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each feature row to the nearest class mean."""
        projected = np.asarray(features, dtype=np.float32) @ np.asarray(
            self.whitening, dtype=np.float32
        )
        centres = self._projected_centres
        d2 = ((projected[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
        return np.asarray(d2.min(axis=1), dtype=np.float64)


def fit_mahalanobis(
    features: np.ndarray, labels: np.ndarray, n_classes: int, shrinkage: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Class means and the whitening matrix of the shrunk shared within-class covariance.

    Shrinkage towards a scaled identity keeps the inverse stable: 1280 feature dimensions against
    a few thousand images would otherwise give a near-singular covariance.
    """
    feats = np.asarray(features, dtype=np.float64)
    means = np.stack(
        [
            feats[labels == c].mean(axis=0) if (labels == c).any() else feats.mean(axis=0)
            for c in range(n_classes)
        ]
    )
    centred = feats - means[labels]
    cov = centred.T @ centred / max(1, len(feats) - n_classes)
    target = np.trace(cov) / cov.shape[0]
    cov = (1.0 - shrinkage) * cov + shrinkage * target * np.eye(cov.shape[0])
    evals, evecs = np.linalg.eigh(cov)
    whitening = evecs / np.sqrt(np.maximum(evals, 1e-12))[None, :]
    return means.astype(np.float32), whitening.astype(np.float32)
