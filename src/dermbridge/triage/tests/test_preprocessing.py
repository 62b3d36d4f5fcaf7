"""The colour features the abstention detector reads are exactly what every shipped card was
fitted on: the faster per-pixel form gives the same float32 bits as the reductions it replaced."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dermbridge.triage.preprocessing import colour_features, image_statistics
from dermbridge.triage.tests.conftest import ham_frames


def _reference(rgb: np.ndarray) -> np.ndarray:
    """``colour_features`` as written when the shipped detectors were fitted (axis=1 reductions)."""
    x = rgb.astype(np.float32) / 255.0
    flat = x.reshape(-1, 3)
    total = flat.sum(axis=1) + 1e-3
    chroma = flat.max(axis=1) - flat.min(axis=1)
    warm = (flat[:, 0] >= flat[:, 1]) & (flat[:, 1] >= flat[:, 2])
    stats = image_statistics(rgb)
    return np.array(
        [
            *flat.mean(axis=0),
            *flat.std(axis=0),
            chroma.mean(),
            chroma.std(),
            (flat[:, 0] / total).mean(),
            (flat[:, 1] / total).mean(),
            warm.mean(),
            np.log1p(stats["sharpness"]),
        ],
        dtype=np.float32,
    )


def _assert_identical(frames: list[np.ndarray]) -> None:
    for frame in frames:
        ours, theirs = colour_features(frame), _reference(frame)
        assert ours.dtype == theirs.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs)


def test_colour_features_are_bit_identical_to_the_fitted_form() -> None:
    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(20)]
    frames += [np.full((120, 160, 3), v, np.uint8) for v in (0, 128, 255)]  # flat colours
    frames.append(rng.integers(0, 256, (150, 200, 3), dtype=np.uint8))  # another input size
    # Every green and blue level with one red level in 16: 16 frames of 256 x 256 pixels.
    values = np.arange(256, dtype=np.uint8)
    r, g, b = np.meshgrid(values, values, values, indexing="ij")
    every = np.stack([r, g, b], axis=-1).reshape(256, 256, 256, 3)
    frames += list(every[::16])
    _assert_identical(frames)


def test_colour_features_are_bit_identical_on_real_dermoscopy(ham_dir: Path) -> None:
    _assert_identical(list(ham_frames(ham_dir, 40)))
