"""The worst-plausible-class band rule and the metadata encoding (no model needed)."""

from __future__ import annotations

import numpy as np

from dermbridge.triage.calibration import class_threshold, plausible_band, worst_plausible
from dermbridge.triage.metadata import FEATURES, SITES, SNOMED_TO_SITE, LesionMetadata, encode
from dermbridge.triage.training.rules import band_metrics, choose_class_thresholds

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


def test_metadata_encoding_and_missing_fields() -> None:
    assert not encode(None).any() and not encode(LesionMetadata()).any()
    x = encode(LesionMetadata(age=70, sex="female", site="back"))
    assert len(x) == len(FEATURES)
    assert x[FEATURES.index("age_known")] == 1 and x[FEATURES.index("female")] == 1
    assert x[FEATURES.index("site:back")] == 1 and x[FEATURES.index("male")] == 0
    assert set(SNOMED_TO_SITE.values()) <= set(SITES)
