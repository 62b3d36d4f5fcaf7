"""The model card template renders from the shipped card JSON (no torch needed)."""

from __future__ import annotations

import json
from typing import Any

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
        kind = "ensemble" if len(e["runs"]) > 1 else "fine-tune"
        assert f"| {kind}: {e['name']} (" in text and e["verdict"] in text
    assert "| post-hoc logit adjustment τ = 0.00" in text
    for extra in card["experiments_not_run"]:
        assert extra["what"] in text
