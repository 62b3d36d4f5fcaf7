"""``dermbridge triage-eval`` on a handful of HAM10000 images (no database)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from dermbridge.triage.inference import TriageModel


def test_triage_eval_writes_metrics(
    shipped_model: TriageModel, ham_dir: Path, tmp_path: Path
) -> None:
    with (ham_dir / "metadata.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    # A few images of each diagnosis so every metric is defined.
    picked: list[dict[str, str]] = []
    for dx in ("nv", "mel", "bkl", "bcc", "akiec", "vasc", "df"):
        picked += [r for r in rows if r["dx"] == dx][:3]
    meta = tmp_path / "meta.csv"
    with meta.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(picked)
    out = tmp_path / "eval.json"
    call_command(
        "triage-eval",
        images=str(ham_dir / "images"),
        metadata=str(meta),
        out=str(out),
        bootstrap=30,
        verbosity=0,
    )
    result = json.loads(out.read_text())
    assert result["n"] == len(picked)
    assert result["model_version"] == shipped_model.version
    assert 0 <= result["abstained"] <= result["n"]
    for name in (
        "accuracy",
        "balanced_accuracy",
        "macro_auroc",
        "malignant_auroc",
        "sensitivity",
        "specificity",
        "ece",
    ):
        value, (lo, hi) = result[name], result[f"{name}_ci"]
        assert 0.0 <= value <= 1.0, name
        assert lo <= hi, name
    assert set(result["per_class_recall"]) == {"nv", "mel", "bkl", "bcc", "akiec", "vasc", "df"}
    assert result["latency_ms_p50"] > 0
    assert result["threshold"] == pytest.approx(shipped_model.rule_out)
