"""The AI's "does not look like a dermoscopic photo" note, measured on real dermoscopic photos
(HAM10000 in ../shared/data): its false-positive rate, recorded in docs/imaging-quality.md."""

from __future__ import annotations

import json

import pytest

from dermbridge.triage import not_dermoscopic_rate
from dermbridge.triage.inference import get_model
from dermbridge.triage.training.data import ham10000_dir


@pytest.fixture
def ham10000():  # type: ignore[no-untyped-def]
    data = ham10000_dir()
    if not (data / "metadata.csv").exists():
        pytest.skip(f"HAM10000 not found at {data} (../shared/data is not part of a clone)")
    if get_model() is None:
        pytest.skip("no shipped triage model in src/dermbridge/triage/models")
    return data


def test_wilson_interval() -> None:
    low, high = not_dermoscopic_rate.wilson(0, 30)
    assert low == 0.0 and 0.11 < high < 0.12
    low, high = not_dermoscopic_rate.wilson(27, 1000)
    assert low < 0.027 < high


def test_it_measures_a_few_test_split_images(ham10000) -> None:  # type: ignore[no-untyped-def]
    """Fast sibling of the slow full run: the first 20 test-split images."""
    report = not_dermoscopic_rate.measure(ham10000, limit=20)
    test = report["groups"]["test"]
    assert test["images"] == 20
    assert 0.0 <= test["false_positive_rate"] <= 1.0
    assert test["not_dermoscopic"] <= 2  # real dermoscopic photos: the note should be rare


@pytest.mark.slow
def test_false_positive_rate_on_every_ham10000_image(ham10000, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """All 8,553 images (several minutes on one core); writes docs/benchmarks/not-dermoscopic.json."""
    report = not_dermoscopic_rate.measure(ham10000)
    not_dermoscopic_rate.DEFAULT_OUT.write_text(json.dumps(report, indent=2) + "\n")
    test = report["groups"]["test"]
    assert test["images"] > 1000
    assert test["false_positive_rate"] <= 0.05, test
