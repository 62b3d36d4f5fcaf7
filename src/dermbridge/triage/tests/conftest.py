"""Fixtures: the shipped model (skip if not committed) and HAM10000 (skip if shared data absent),
and the first HAM10000 images as frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermbridge.triage.dataset import read_metadata
from dermbridge.triage.inference import DEFAULT_CARD, TriageModel, load_model
from dermbridge.triage.preprocessing import to_rgb_array
from dermbridge.triage.training.data import ham10000_dir


def ham_frames(ham_dir: Path, n: int) -> np.ndarray:
    """The first ``n`` images of HAM10000's metadata as the runtime frames them (uint8
    NxHxWx3)."""
    out = []
    for rec in read_metadata(ham_dir / "metadata.csv")[:n]:
        with Image.open(ham_dir / "images" / f"{rec.image_id}.jpg") as img:
            out.append(to_rgb_array(img))
    return np.stack(out)


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
