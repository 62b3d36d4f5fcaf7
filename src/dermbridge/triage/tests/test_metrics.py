"""Statistics behind the operating point: AUROC, Clopper-Pearson, rule-out threshold, bootstrap."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dermbridge.triage import metrics


def test_auroc_matches_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(1)
    pos = rng.random(60) < 0.3
    score = np.round(rng.random(60) + pos * 0.3, 1)  # rounding creates ties
    pairs = [
        1.0 if a > b else 0.5 if a == b else 0.0
        for a, b in itertools.product(score[pos], score[~pos])
    ]
    assert metrics.auroc(pos, score) == pytest.approx(np.mean(pairs))


def test_auroc_undefined_with_one_class() -> None:
    assert np.isnan(metrics.auroc(np.ones(5, bool), np.arange(5.0)))


@pytest.mark.parametrize("n", [10, 72, 250])
def test_clopper_pearson_closed_forms(n: int) -> None:
    # All successes: lower bound solves p^n = alpha/2; no successes: upper is 1 - (alpha/2)^(1/n).
    lo, hi = metrics.clopper_pearson(n, n)
    assert lo == pytest.approx(0.025 ** (1 / n), abs=1e-9)
    assert hi == 1.0
    lo0, hi0 = metrics.clopper_pearson(0, n)
    assert lo0 == 0.0
    assert hi0 == pytest.approx(1 - 0.025 ** (1 / n), abs=1e-9)


def test_clopper_pearson_is_symmetric_and_contains_estimate() -> None:
    lo, hi = metrics.clopper_pearson(37, 120)
    lo2, hi2 = metrics.clopper_pearson(120 - 37, 120)
    assert lo == pytest.approx(1 - hi2, abs=1e-9)
    assert hi == pytest.approx(1 - lo2, abs=1e-9)
    assert lo < 37 / 120 < hi
    # Reference value (scipy.stats.beta.ppf(0.025, 37, 84)).
    assert lo == pytest.approx(0.2272, abs=2e-4)


def test_rule_out_threshold_is_the_highest_admissible() -> None:
    rng = np.random.default_rng(7)
    malignant = np.r_[np.ones(400, bool), np.zeros(1000, bool)]
    score = np.r_[rng.beta(5, 2, 400), rng.beta(2, 5, 1000)]
    thr, caught, n, lower = metrics.rule_out_threshold(malignant, score, 0.95)
    assert n == 400
    assert caught == int((score[malignant] >= thr).sum())
    assert lower >= 0.95
    assert lower == pytest.approx(metrics.clopper_pearson(caught, n)[0])
    # Losing one more malignant case would break the bound.
    assert metrics.clopper_pearson(caught - 1, n)[0] < 0.95


def test_rule_out_threshold_refuses_too_few_cases() -> None:
    with pytest.raises(ValueError, match="too small"):
        metrics.rule_out_threshold(np.ones(20, bool), np.linspace(0, 1, 20))


def test_conformal_threshold_is_the_kth_lowest_malignant_score() -> None:
    malignant = np.r_[np.ones(226, bool), np.zeros(50, bool)]
    score = np.r_[np.linspace(0.01, 0.99, 226), np.zeros(50)]
    thr, caught, n = metrics.conformal_rule_out_threshold(malignant, score, 0.05)
    # k = floor(0.05 * 227) = 11: ten malignant scores fall below the threshold.
    assert (n, caught) == (226, 216)
    assert thr == pytest.approx(np.sort(score[:226])[10])
    # Benign scores do not move it.
    assert metrics.conformal_rule_out_threshold(malignant[:226], score[:226], 0.05)[0] == thr


def test_conformal_threshold_keeps_its_promise_on_average() -> None:
    """Over many calibration draws, a new malignant case clears the threshold >= 95% of the time."""
    rng = np.random.default_rng(11)
    covered = []
    for _ in range(2000):
        cal = rng.beta(5, 2, 60)
        thr, _, _ = metrics.conformal_rule_out_threshold(np.ones(60, bool), cal, 0.05)
        covered.append(rng.beta(5, 2) >= thr)
    # floor(0.05 * 61) = 3: exact coverage 1 - 3/61 = 0.951; 2000 draws give a SE of 0.005.
    assert np.mean(covered) >= 0.935
    # ...and is less conservative than the Clopper-Pearson bound on the same sample.
    sample = rng.beta(5, 2, 400)
    conformal = metrics.conformal_rule_out_threshold(np.ones(400, bool), sample)[0]
    bound = metrics.rule_out_threshold(np.ones(400, bool), sample, 0.95)[0]
    assert conformal > bound


def test_conformal_threshold_refuses_too_few_cases() -> None:
    with pytest.raises(ValueError, match="at least 19 needed"):
        metrics.conformal_rule_out_threshold(np.ones(18, bool), np.linspace(0, 1, 18), 0.05)


def test_bootstrap_resamples_groups_and_brackets_the_mean() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=300)
    groups = [f"L{i // 3}" for i in range(300)]  # three images per lesion
    lo, hi = metrics.bootstrap_ci(groups, lambda r: float(values[r].mean()), n_boot=300)
    assert lo < values.mean() < hi
    assert hi - lo < 0.5


def test_ece_zero_for_perfectly_calibrated_bins_and_positive_for_overconfidence() -> None:
    labels = np.array([0, 0, 0, 1] * 25)
    honest = np.tile([0.75, 0.25], (100, 1))
    assert metrics.ece(labels, honest) == pytest.approx(0.0, abs=1e-12)
    over = np.tile([0.99, 0.01], (100, 1))
    assert metrics.ece(labels, over) == pytest.approx(0.24, abs=1e-9)


def test_balanced_accuracy_averages_recall_per_class() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    pred = np.zeros(100, dtype=int)  # always the majority class
    assert metrics.balanced_accuracy(labels, pred, 2) == pytest.approx(0.5)
