"""Post-hoc logit adjustment (Menon et al. 2021) and the pipeline's rule for shipping it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dermbridge.triage import calibration, metrics
from dermbridge.triage.training import logit_adjust
from dermbridge.triage.training.pipeline import choose_calibration

PRIOR = np.array([0.67, 0.11, 0.11, 0.05, 0.034, 0.013, 0.013])


def _imbalanced(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from PRIOR and the Bayes posterior logits log p(x|y) + log prior, where
    p(x|y) is a noisy one-hot likelihood: the arg-max then favours the frequent class."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(PRIOR), size=n, p=PRIOR)
    likelihood = rng.normal(0.0, 1.0, (n, len(PRIOR)))
    likelihood[np.arange(n), labels] += 1.5
    return likelihood + np.log(PRIOR), labels


def test_adjustment_is_zero_at_tau_zero_and_favours_rare_classes() -> None:
    assert np.allclose(logit_adjust.adjustment(PRIOR, 0.0), 0.0)
    b = logit_adjust.adjustment(PRIOR, 1.0)
    assert b[0] == 0.0  # first class fixed, only differences matter
    assert np.all(np.diff(b[[0, 1, 3, 5]]) > 0)  # rarer class, larger offset
    assert np.allclose(b, -np.log(PRIOR) + np.log(PRIOR[0]))


def test_training_prior_counts_every_class() -> None:
    prior = logit_adjust.train_prior(np.array([0, 0, 0, 1]))
    assert prior.sum() == pytest.approx(1.0) and np.all(prior > 0)
    assert prior[0] == pytest.approx(3 / 9)  # absent classes count once: 3 + 1 + 5 x 1


def test_temperature_with_a_fixed_bias_is_fitted_around_it() -> None:
    logits, labels = _imbalanced()
    bias = logit_adjust.adjustment(PRIOR, 0.5)
    t = calibration.fit_temperature(logits * 2.0, labels, bias)
    # The bias is fixed: only T moves, and it beats T = 1 with the same bias.
    assert calibration.nll(logits * 2.0, labels, t, bias) < calibration.nll(
        logits * 2.0, labels, 1.0, bias
    )
    assert calibration.fit_temperature(logits, labels) == pytest.approx(
        calibration.fit_temperature(logits, labels, np.zeros(len(PRIOR)))
    )


def test_the_sweep_finds_that_adjusting_raises_balanced_accuracy() -> None:
    cal, val = _imbalanced(seed=1), _imbalanced(seed=2)
    rows = logit_adjust.sweep(*cal, *val, PRIOR, taus=(0.0, 0.5, 1.0))
    by_tau = {r["tau"]: r for r in rows}
    # Bayes logits with the prior in them: removing it (tau = 1) is balanced-error optimal.
    assert by_tau[1.0]["balanced_accuracy"] > by_tau[0.0]["balanced_accuracy"] + 0.05
    best = logit_adjust.choose(rows)
    assert best["tau"] > 0.0
    assert best["selection_score"] == max(r["selection_score"] for r in rows)
    # Fewer images called the majority class once adjusted.
    plain = metrics.softmax(val[0] / by_tau[0.0]["temperature"]).argmax(1)
    adjusted = metrics.softmax(
        val[0] / by_tau[1.0]["temperature"] + logit_adjust.adjustment(PRIOR, 1.0)
    ).argmax(1)
    assert (adjusted == 0).mean() < (plain == 0).mean()


def test_a_tau_that_breaks_calibration_does_not_hide_one_that_keeps_it() -> None:
    cal, val = _imbalanced(seed=1), _imbalanced(seed=2)
    rows = logit_adjust.sweep(*cal, *val, PRIOR, taus=(0.0, 0.5, 1.0))
    for r in rows:  # each row's ECE is that of its own adjusted probabilities on calibration
        bias = logit_adjust.adjustment(PRIOR, r["tau"])
        assert r["calibration_ece"] == pytest.approx(
            metrics.ece(cal[1], metrics.softmax(cal[0] / r["temperature"] + bias))
        )
    best = logit_adjust.choose(rows)
    ceiling = min(r["calibration_ece"] for r in rows if r["tau"] != best["tau"])
    assert best["calibration_ece"] > ceiling  # the best tau is the least calibrated here
    eligible = logit_adjust.choose(rows, max_calibration_ece=ceiling)
    assert eligible["tau"] != best["tau"] and eligible["calibration_ece"] <= ceiling
    # When no tau meets the ceiling, the choice is the unconstrained one.
    assert logit_adjust.choose(rows, max_calibration_ece=-1.0) == best


def test_paired_difference_is_zero_against_itself() -> None:
    logits, labels = _imbalanced(n=400, seed=3)
    lesions = [f"L{i // 2}" for i in range(len(labels))]
    row = {"tau": 0.5, "temperature": 1.0}
    diff = logit_adjust.paired_difference(logits, labels, lesions, PRIOR, row, row, n_boot=50)
    for v in diff.values():
        assert v["difference"] == 0.0 and v["ci"] == [0.0, 0.0]


def _val(score: float, auroc: float) -> dict[str, float]:
    return {"validation_selection_score": score, "validation_malignant_auroc": auroc}


# triage-v2's graph on validation (triage-v3.1's card): temperature, with a class bias, and
# with the logit adjustment; and the first ensemble's (ensemble-trained-200x150-and-triage-v2).
V31 = {
    "temperature": _val(0.836, 0.911),
    "temperature_and_class_bias": _val(0.817, 0.906),
    "temperature_and_logit_adjustment": _val(0.856, 0.914),
}
ENSEMBLE = {
    "temperature": _val(0.8545, 0.915),
    "temperature_and_class_bias": _val(0.801, 0.915),
    "temperature_and_logit_adjustment": _val(0.869, 0.915),
}
ALL_MEET_ECE = dict.fromkeys(V31, 0.03)


@pytest.mark.parametrize(
    ("candidates", "cal_ece", "chosen"),
    [
        # triage-v3.1's choice is unchanged by the rule.
        (V31, ALL_MEET_ECE, "temperature_and_logit_adjustment"),
        # The first ensemble: the old rule (class bias by validation NLL, then an ECE-rise
        # limit against it) shipped the class bias at a selection score of 0.801.
        (ENSEMBLE, ALL_MEET_ECE, "temperature_and_logit_adjustment"),
        # Missing the ECE target on the calibration split rules a candidate out.
        (V31, {**ALL_MEET_ECE, "temperature_and_logit_adjustment": 0.05}, "temperature"),
        # A gain under 0.01 keeps the simpler calibration.
        (
            {**V31, "temperature_and_logit_adjustment": _val(0.842, 0.914)},
            ALL_MEET_ECE,
            "temperature",
        ),
        # So does one that lowers malignant AUROC by more than 0.005.
        (
            {**V31, "temperature_and_logit_adjustment": _val(0.856, 0.900)},
            ALL_MEET_ECE,
            "temperature",
        ),
        # Each candidate is compared with the choice so far, simplest first.
        (
            {**V31, "temperature_and_class_bias": _val(0.845, 0.911)},
            ALL_MEET_ECE,
            "temperature_and_logit_adjustment",
        ),
        (
            {**V31, "temperature_and_class_bias": _val(0.850, 0.911)},
            ALL_MEET_ECE,
            "temperature_and_class_bias",
        ),
        # None meets the ECE target: the best calibrated one.
        (
            V31,
            {
                "temperature": 0.06,
                "temperature_and_class_bias": 0.05,
                "temperature_and_logit_adjustment": 0.07,
            },
            "temperature_and_class_bias",
        ),
    ],
)
def test_the_calibration_is_chosen_by_the_selection_score_among_those_meeting_the_ece_target(
    candidates: dict[str, dict[str, float]], cal_ece: dict[str, float], chosen: str
) -> None:
    assert choose_calibration(candidates, cal_ece) == chosen


def test_an_experiment_is_scored_with_and_without_the_adjustment() -> None:
    pytest.importorskip("torch", reason="experiments.py needs the 'train' extra")
    from dermbridge.triage.training.experiments import score

    result = score(_imbalanced(seed=4), _imbalanced(seed=5), PRIOR)
    assert result["temperature"]["T"] > 0
    assert result["logit_adjusted"]["selection_score"] >= result["temperature"]["selection_score"]


def test_a_verdict_is_set_only_on_a_recorded_experiment(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="experiments.py needs the 'train' extra")
    from dermbridge.triage.training.experiments import main

    out = tmp_path / "experiments.json"
    out.write_text(json.dumps([{"name": "run-a", "runs": []}]))
    main(["--name", "run-a", "--verdict", "not shipped", "--out", str(out)])
    assert json.loads(out.read_text())[0]["verdict"] == "not shipped"
    with pytest.raises(SystemExit):
        main(["--name", "run-b", "--verdict", "x", "--out", str(out)])
    with pytest.raises(SystemExit):  # scoring needs at least one checkpoint or graph
        main(["--name", "run-c", "--out", str(out)])


def test_an_ensemble_with_an_exported_graph_names_its_members_in_the_card() -> None:
    from dermbridge.triage.training.card_sections_experiments import _finetune_rows

    scores = {"balanced_accuracy": 0.8, "accuracy": 0.8, "malignant_auroc": 0.9, "ece": 0.05}
    cfg = {"epochs": 12, "loss": "logit_adjusted", "la_tau": 1.0, "colour": "strong"}
    cfg |= {"input_width": 200, "input_height": 150, "lr": 0.001, "init_from": ""}
    member = {"checkpoint": "var/triage/exp/member-a/best.pt", "member": "member-a", "config": cfg}
    graph = {"graph": "src/dermbridge/triage/models/triage-v2.onnx", "member": "triage-v2"}
    card = {
        "experiments": [
            {
                "name": "two",
                "runs": [member, graph],
                "temperature": scores,
                "logit_adjusted": {**scores, "tau": 0.5},
            },
            {
                "name": "one",
                "runs": [member],
                "temperature": scores,
                "logit_adjusted": {**scores, "tau": 0.5},
                "seconds_per_step": 2.5,
            },
        ]
    }
    ensemble, single = _finetune_rows(card)
    assert "mean of the members' logits: member-a, triage-v2" in ensemble
    assert "trained: one (12 epoch(s) from ImageNet" in single
    assert "input 200x150" in single and "2.5 s per 32-image training step" in single
    assert "on the shared cores" in single
    # A run trained on a GPU (its history names the device, ADR 0024) says so.
    gpu_member = {**member, "history": [{"epoch": 1, "device": "cuda:0"}]}
    gpu_card = {"experiments": [{**card["experiments"][1], "runs": [gpu_member]}]}  # type: ignore[index,dict-item]
    assert "2.5 s per 32-image training step on a CUDA GPU" in _finetune_rows(gpu_card)[0]
