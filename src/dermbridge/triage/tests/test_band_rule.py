"""The worst-plausible-class band rule and the metadata encoding (no model needed)."""

from __future__ import annotations

import numpy as np

from dermbridge.triage import metrics
from dermbridge.triage.calibration import class_threshold, plausible_band, worst_plausible
from dermbridge.triage.labels import MALIGNANT_INDICES
from dermbridge.triage.metadata import FEATURES, SITES, SNOMED_TO_SITE, LesionMetadata, encode
from dermbridge.triage.training.rules import (
    band_metrics,
    choose_class_thresholds,
    rule_out_comparison,
)

TH = {"mel": 0.3, "akiec": 0.25, "bcc": 0.2}


def probs(**kw: float) -> dict[str, float]:
    p = {"nv": 0.0, "mel": 0.0, "bkl": 0.0, "bcc": 0.0, "akiec": 0.0, "vasc": 0.0, "df": 0.0}
    p.update(kw)
    p["nv"] = 1.0 - sum(v for k, v in p.items() if k != "nv")
    return p


def test_the_most_severe_plausible_class_sets_the_band_not_the_arg_max() -> None:
    # Naevus is the arg-max, but melanoma reaches its own threshold: high.
    p = probs(mel=0.31)
    assert worst_plausible(p, TH) == "mel"
    assert plausible_band(p, 0.31, TH, rule_out=0.03) == "high"
    # BCC is the arg-max and melanoma is below its threshold: intermediate, not high.
    p = probs(bcc=0.6, mel=0.1)
    assert worst_plausible(p, TH) == "bcc"
    assert plausible_band(p, 0.7, TH, rule_out=0.03) == "intermediate"
    # akiec (SCC/IEC) ranks with melanoma.
    assert plausible_band(probs(akiec=0.26), 0.26, TH, rule_out=0.03) == "high"


def test_below_every_class_threshold_the_rule_out_threshold_decides() -> None:
    assert plausible_band(probs(mel=0.02, bcc=0.02), 0.04, TH, rule_out=0.03) == "intermediate"
    assert plausible_band(probs(mel=0.01), 0.01, TH, rule_out=0.03) == "low"
    assert worst_plausible(probs(mel=0.01), TH) is None


def test_class_threshold_catches_the_asked_share() -> None:
    scores = np.linspace(0.01, 1.0, 100)
    is_class = np.ones(100, dtype=bool)
    t = class_threshold(is_class, scores, 0.95)
    assert (scores[is_class] >= t).mean() >= 0.95


def test_thresholds_keep_the_benign_high_band_within_budget() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 700)
    logits = rng.normal(0, 1, (700, 7))
    logits[np.arange(700), labels] += 2.0
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    th = choose_class_thresholds(p, labels)
    ops = band_metrics(p, labels, th, rule_out=0.05, high_cutoff=0.5)
    assert ops["benign_high_band"] <= 0.10 + 1e-9
    assert ops["melanoma_high_band"] > 0.3


def _probabilities(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    logits = rng.normal(0, 1, (n, 7))
    logits[np.arange(n), labels] += 1.5
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), labels


def test_rule_out_guarantees_are_compared_on_validation() -> None:
    cal_p, cal_y = _probabilities(900, 1)
    val_p, val_y = _probabilities(600, 2)
    lesions = [f"L{i // 2}" for i in range(900)]  # two images per lesion
    p_mal = cal_p[:, list(MALIGNANT_INDICES)].sum(axis=1)
    is_mal = np.isin(cal_y, MALIGNANT_INDICES)
    shipped = metrics.rule_out_threshold(is_mal, p_mal, 0.95)[0]
    rows = rule_out_comparison((p_mal, is_mal, lesions), (val_p, val_y), None, shipped, 0.9)
    by_key = {r["key"]: r for r in rows}
    assert list(by_key) == ["clopper_pearson", "conformal_images", "conformal_lesions"]
    assert [r["key"] for r in rows if r["shipped"]] == ["clopper_pearson"]
    assert by_key["clopper_pearson"]["threshold"] == shipped
    # The conformal promise is weaker, so its threshold is higher: fewer caught, more ruled out.
    cp, conf = by_key["clopper_pearson"], by_key["conformal_images"]
    assert conf["threshold"] > cp["threshold"]
    assert conf["calibration_malignant_caught"] < cp["calibration_malignant_caught"]
    assert conf["validation_specificity"] >= cp["validation_specificity"]
    assert conf["validation_sensitivity"] <= cp["validation_sensitivity"]
    # Each row's validation numbers are the band rule's at that threshold.
    ops = band_metrics(val_p, val_y, None, conf["threshold"], max(0.9, conf["threshold"]))
    assert conf["validation_specificity"] == ops["specificity"]
    # Without lesion ids (smoke runs) the lesion-level row is left out, not guessed.
    keys = [
        r["key"]
        for r in rule_out_comparison((p_mal, is_mal, None), (val_p, val_y), None, shipped, 0.9)
    ]
    assert keys == ["clopper_pearson", "conformal_images"]


def test_metadata_encoding_and_missing_fields() -> None:
    assert not encode(None).any() and not encode(LesionMetadata()).any()
    x = encode(LesionMetadata(age=70, sex="female", site="back"))
    assert len(x) == len(FEATURES)
    assert x[FEATURES.index("age_known")] == 1 and x[FEATURES.index("female")] == 1
    assert x[FEATURES.index("site:back")] == 1 and x[FEATURES.index("male")] == 0
    assert set(SNOMED_TO_SITE.values()) <= set(SITES)
