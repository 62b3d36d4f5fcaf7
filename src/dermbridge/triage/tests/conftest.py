"""Fixtures: the shipped model (skip if not committed) and HAM10000 (skip if shared data absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermbridge.triage.inference import DEFAULT_CARD, TriageModel, load_model
from dermbridge.triage.training.data import ham10000_dir


@pytest.fixture(scope="session")
def shipped_model() -> TriageModel:
    if not DEFAULT_CARD.exists():
        pytest.skip(f"no shipped model card at {DEFAULT_CARD}")
    return load_model()


@pytest.fixture(scope="session")
def ham_dir() -> Path:
    path = ham10000_dir()
    if not (path / "metadata.csv").exists():
        pytest.skip(f"HAM10000 not found at {path} (set DERMBRIDGE_SHARED_DIR)")
    return path
