"""Temperature scaling, risk bands and the Mahalanobis novelty detector on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from dermbridge.triage import calibration, metrics


def _synthetic(n: int = 4000, k: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true class distribution, and labels drawn from it."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, k))
    probs = metrics.softmax(logits)
    labels = np.array([rng.choice(k, p=p) for p in probs])
    return logits, labels


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_temperature_recovers_the_distortion(scale: float) -> None:
    logits, labels = _synthetic()
    # Overconfident (scale > 1) or underconfident network: T should undo the scaling.
    t = calibration.fit_temperature(logits * scale, labels)
    assert t == pytest.approx(scale, rel=0.12)
    assert (
        calibration.nll(logits * scale, labels, t)
        <= calibration.nll(logits * scale, labels, 1.0) + 1e-9
    )


def test_temperature_scaling_reduces_ece_of_overconfident_logits() -> None:
    logits, labels = _synthetic(seed=1)
    over = logits * 3.0
    t = calibration.fit_temperature(over, labels)
    assert metrics.ece(labels, metrics.softmax(over, t)) < metrics.ece(
        labels, metrics.softmax(over)
    )


@pytest.mark.parametrize(
    ("p", "band"),
    [
        (0.0, "low"),
        (0.099, "low"),
        (0.1, "intermediate"),
        (0.59, "intermediate"),
        (0.6, "high"),
        (1.0, "high"),
    ],
)
def test_risk_band_edges(p: float, band: str) -> None:
    assert calibration.risk_band(p, rule_out=0.1, high=0.6) == band


def test_high_band_cutoff_leaves_the_requested_share_of_benign_below() -> None:
    benign = np.random.default_rng(0).random(1000)
    cut = calibration.high_band_cutoff(benign, 0.9)
    assert np.mean(benign < cut) == pytest.approx(0.9, abs=0.01)


def test_mahalanobis_detector_flags_far_points() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (3, 16))
    labels = rng.integers(0, 3, 900)
    feats = centres[labels] + rng.normal(0, 1, (900, 16))
    means, whitening = calibration.fit_mahalanobis(feats, labels, 3, shrinkage=0.0)
    det = calibration.MahalanobisDetector(means, whitening, threshold=np.inf)
    inside = det.distances(centres[labels[:100]] + rng.normal(0, 1, (100, 16)))
    outside = det.distances(rng.normal(0, 1, (100, 16)) + 30.0)
    # Identity covariance: squared distance of in-distribution points ~ chi-square(16).
    assert np.median(inside) == pytest.approx(16, rel=0.3)
    assert outside.min() > inside.max()


def test_bias_corrected_temperature_recovers_prior_shift() -> None:
    logits, labels = _synthetic(seed=2)
    shift = np.array([0.0, 1.0, -0.5, 0.3, 0.0, -1.0, 0.5])
    distorted = logits * 2.0 - shift * 2.0  # overconfident and prior-shifted
    t, b = calibration.fit_temperature_and_bias(distorted, labels)
    assert t == pytest.approx(2.0, rel=0.15)
    assert b == pytest.approx(shift - shift[0], abs=0.25)
    t_only = calibration.fit_temperature(distorted, labels)
    p_bias = metrics.softmax(distorted / t + b)
    p_temp = metrics.softmax(distorted, t_only)
    nll_bias = -np.log(p_bias[np.arange(len(labels)), labels]).mean()
    nll_temp = -np.log(p_temp[np.arange(len(labels)), labels]).mean()
    assert nll_bias < nll_temp


def test_malignant_rate_bins_cover_the_true_rate_of_calibrated_scores() -> None:
    rng = np.random.default_rng(4)
    score = rng.random(5000)
    malignant = rng.random(5000) < score  # perfectly calibrated
    edges, intervals = calibration.malignant_rate_bins(malignant, score, n_bins=10)
    assert len(intervals) == len(edges) + 1 == 10
    for p in (0.05, 0.5, 0.93):
        lo, hi = calibration.interval_for(p, edges, intervals)
        assert 0.0 <= lo <= hi <= 1.0
        assert lo - 0.06 <= p <= hi + 0.06  # bin mean is within a bin width of p
    # Bins are increasing in malignant rate.
    mids = [0.5 * (lo + hi) for lo, hi in intervals]
    assert mids == sorted(mids)
