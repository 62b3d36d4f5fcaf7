"""HAM10000 metadata, lesion-grouped splits and an in-memory image cache for training.

Several HAM10000 images show the same lesion, so every split is made over ``lesion_id``: a lesion
is entirely in train, validation, calibration or test, never in two (otherwise test metrics leak).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from dermbridge.config import env_path
from dermbridge.triage.dataset import Record, read_metadata  # noqa: F401  (re-exported)
from dermbridge.triage.labels import CLASSES
from dermbridge.triage.preprocessing import INPUT_HEIGHT, INPUT_WIDTH, to_rgb_array

REPO_DIR = Path(__file__).resolve().parents[4]
SPLITS = ("train", "validation", "calibration", "test")
# Fractions of lesions per split, stratified by diagnosis. Calibration and test are large so the
# Clopper-Pearson bound on malignant sensitivity and the test intervals are reasonably tight.
SPLIT_FRACTIONS = {"train": 0.65, "validation": 0.07, "calibration": 0.14, "test": 0.14}
DEFAULT_SEED = 20260522


def shared_dir() -> Path:
    """Read-only shared data folder: ``DERMBRIDGE_SHARED_DIR``, default ``<repo>/../shared``."""
    return env_path("SHARED_DIR", REPO_DIR.parent / "shared")


def ham10000_dir() -> Path:
    return shared_dir() / "data" / "ham10000"


def lesion_grouped_splits(
    records: Sequence[Record], seed: int = DEFAULT_SEED
) -> dict[str, list[Record]]:
    """Split images by lesion into train/validation/calibration/test, stratified by diagnosis.

    Deterministic for a seed: lesions are sorted before a seeded shuffle, so row order in the CSV
    does not matter.
    """
    by_lesion: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        by_lesion[rec.lesion_id].append(rec)
    lesions_by_dx: dict[str, list[str]] = defaultdict(list)
    for lesion_id, recs in sorted(by_lesion.items()):
        lesions_by_dx[recs[0].dx].append(lesion_id)
    rng = random.Random(seed)
    assignment: dict[str, str] = {}
    for dx in sorted(lesions_by_dx):
        ids = lesions_by_dx[dx]
        rng.shuffle(ids)
        n = len(ids)
        start = 0
        for i, split in enumerate(SPLITS):
            end = n if i == len(SPLITS) - 1 else start + round(SPLIT_FRACTIONS[split] * n)
            for lesion_id in ids[start:end]:
                assignment[lesion_id] = split
            start = end
    out: dict[str, list[Record]] = {s: [] for s in SPLITS}
    for rec in records:
        out[assignment[rec.lesion_id]].append(rec)
    return out


def split_summary(splits: dict[str, list[Record]]) -> dict[str, dict[str, int]]:
    """Image, lesion and per-diagnosis counts per split, for the model card."""
    summary: dict[str, dict[str, int]] = {}
    for name, recs in splits.items():
        counts = Counter(r.dx for r in recs)
        summary[name] = {
            "images": len(recs),
            "lesions": len({r.lesion_id for r in recs}),
            **{dx: counts.get(dx, 0) for dx in CLASSES},
        }
    return summary


def load_image(
    images_dir: Path, image_id: str, size: tuple[int, int] = (INPUT_WIDTH, INPUT_HEIGHT)
) -> np.ndarray:
    """One image as uint8 HxWx3 at ``size`` (width, height); the runtime's 160x120 by default
    (``preprocessing.to_rgb_array``), else a plain bilinear resize (200x150: the files as they
    are)."""
    with Image.open(images_dir / f"{image_id}.jpg") as opened:
        if size == (INPUT_WIDTH, INPUT_HEIGHT):
            return to_rgb_array(opened)
        img: Image.Image = opened.convert("RGB")
        if img.height > img.width:
            img = img.transpose(Image.Transpose.ROTATE_90)
        if img.size != size:
            img = img.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def load_arrays(
    records: Sequence[Record],
    images_dir: Path,
    cache_dir: Path | None = None,
    desc: str = "images",
    size: tuple[int, int] = (INPUT_WIDTH, INPUT_HEIGHT),
) -> tuple[np.ndarray, np.ndarray]:
    """Decode images to a uint8 NxHxWx3 array (``size`` = (W, H), 160x120 by default) plus int64
    labels, cached as .npy in var/."""
    width, height = size
    key = hashlib.sha256("\n".join(r.image_id for r in records).encode()).hexdigest()[:16]
    cache = cache_dir / f"ham-{width}x{height}-{key}.npy" if cache_dir else None
    labels = np.array([r.label for r in records], dtype=np.int64)
    if cache is not None and cache.exists():
        return np.load(cache), labels
    pixels = np.empty((len(records), height, width, 3), dtype=np.uint8)
    for i, rec in enumerate(tqdm(records, desc=f"decode {desc}", mininterval=5)):
        pixels[i] = load_image(images_dir, rec.image_id, size)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, pixels)
    return pixels, labels


def load_capture_views(
    records: Sequence[Record],
    images_dir: Path,
    seed: int,
    cache_dir: Path | None = None,
    desc: str = "images",
    size: tuple[int, int] = (INPUT_WIDTH, INPUT_HEIGHT),
) -> np.ndarray:
    """One phone-dermatoscope capture view per image (``triage.captures.capture_view``: a random
    zoom, rotation, white balance and soft-edged field of view, seeded), at the pipeline's AI
    input size and then at ``size`` as the runtime resizes an upload; cached as .npy in var/."""
    from dermbridge.imaging.pipeline import PipelineConfig
    from dermbridge.triage.captures import capture_view, random_spec
    from dermbridge.triage.preprocessing import at_size

    width, height = size
    ids = "\n".join(r.image_id for r in records)
    key = hashlib.sha256(f"{seed}\n{ids}".encode()).hexdigest()[:16]
    cache = cache_dir / f"ham-views-{width}x{height}-{key}.npy" if cache_dir else None
    if cache is not None and cache.exists():
        return np.load(cache)
    rng = np.random.default_rng(seed)
    ai_size = PipelineConfig().ai_input_size
    views = np.empty((len(records), height, width, 3), dtype=np.uint8)
    for i, rec in enumerate(tqdm(records, desc=f"capture views {desc}", mininterval=5)):
        with Image.open(images_dir / f"{rec.image_id}.jpg") as opened:
            frame = opened.convert("RGB")
        views[i] = at_size(capture_view(frame, random_spec(rng), ai_size), size)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, views)
    return views
