"""Phone-dermatoscope captures of the test split through the real image pipeline.

``python -m dermbridge.triage.capture_bench [--lesions N] [--out docs/benchmarks/captures.json]``

For each test-split lesion (one image each; a seeded random subset when ``--lesions`` is given),
a 12 MP phone-dermatoscope photo is made from its HAM10000 frame (``triage.captures``), uploaded
through ``imaging.pipeline.process_image`` exactly as a clinic's upload is, and the ``ai_input``
derivative is assessed by the shipped model. The same image is also assessed plain (the HAM10000
frame, as ``triage-eval`` does) and as the old pipeline framed it (the whole photo shrunk), so the
three can be compared on the same lesions: abstention, malignant AUROC, and the paired AUROC
difference with a lesion-resampled 95% bootstrap interval.
"""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from dermbridge.imaging.pipeline import PipelineConfig, process_image
from dermbridge.imaging.pipeline.aperture import orient_like
from dermbridge.triage import metrics
from dermbridge.triage.captures import PHOTO_SIZE, CaptureSpec, phone_capture, random_spec
from dermbridge.triage.dataset import Record
from dermbridge.triage.inference import TriageModel, load_model
from dermbridge.triage.labels import MALIGNANT
from dermbridge.triage.preprocessing import to_rgb_array


def capture_frames(photo: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The AI-input pixels of a capture (200x150, the ``ai_input`` derivative's size; each model
    resizes them to its own input as it does an upload): through the pipeline as it is now, and
    as the old pipeline framed it (the whole photo shrunk)."""
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90)
    buffer.seek(0)
    size = PipelineConfig().ai_input_size
    processed = process_image(buffer, declared_type="dermoscopic")
    with Image.open(io.BytesIO(processed.derivatives["ai_input"].data)) as ai:
        now = to_rgb_array(ai.convert("RGB"), size)
    old = to_rgb_array(ImageOps.fit(orient_like(photo.reduce(8), size), size), size)
    return now, old


def score(model: TriageModel, frames: np.ndarray) -> list[float | None]:
    """Malignancy probability per frame (None where the model declined)."""
    return [model.assess_rgb(f).malignant_probability for f in frames]


def _summary(rows: list[dict[str, Any]], key: str, n_boot: int) -> dict[str, Any]:
    kept = [r for r in rows if r[key] is not None]
    y = np.array([r["malignant"] for r in kept], dtype=bool)
    p = np.array([r[key] for r in kept], dtype=np.float64)
    out: dict[str, Any] = {
        "n": len(rows),
        "abstained": len(rows) - len(kept),
        "abstention_rate": (len(rows) - len(kept)) / max(1, len(rows)),
    }
    if len(kept) and y.any() and (~y).any():
        groups = [r["lesion_id"] for r in kept]
        out["malignant_auroc"] = metrics.auroc(y, p)
        out["malignant_auroc_ci"] = list(
            metrics.bootstrap_ci(groups, lambda r: metrics.auroc(y[r], p[r]), n_boot=n_boot)
        )
    return out


def make_frames(
    records: list[Record],
    images_dir: Path,
    seed: int = 0,
    progress: bool = True,
    size: tuple[int, int] = PHOTO_SIZE,
) -> dict[str, Any]:
    """Model-frame pixels for each record: plain, captured (new framing), captured (old)."""
    rng = np.random.default_rng(seed)
    ai_size = PipelineConfig().ai_input_size
    plain, now, old, zooms = [], [], [], []
    for rec in tqdm(records, desc="captures", disable=not progress, mininterval=10):
        spec: CaptureSpec = random_spec(rng)
        with Image.open(images_dir / f"{rec.image_id}.jpg") as frame:
            frame.load()
            plain.append(to_rgb_array(frame, ai_size))
            photo = phone_capture(frame, spec, size)
        a, b = capture_frames(photo)
        photo.close()
        now.append(a)
        old.append(b)
        zooms.append(spec.zoom)
    return {
        "image_id": np.array([r.image_id for r in records]),
        "plain": np.stack(plain),
        "capture": np.stack(now),
        "capture_old_framing": np.stack(old),
        "zoom": np.array(zooms),
        "photo_size": np.array(size),
    }


def measure(
    model: TriageModel, records: list[Record], frames: dict[str, Any], n_boot: int = 1000
) -> dict[str, Any]:
    """Plain vs captured (new framing) vs captured (old framing), on the same lesions."""
    by_id = {r.image_id: r for r in records}
    recs = [by_id[str(i)] for i in frames["image_id"]]
    scores = {k: score(model, frames[k]) for k in ("plain", "capture", "capture_old_framing")}
    rows: list[dict[str, Any]] = [
        {
            "image_id": rec.image_id,
            "lesion_id": rec.lesion_id,
            "dx": rec.dx,
            "malignant": rec.dx in MALIGNANT,
            "zoom": float(frames["zoom"][i]),
            **{k: v[i] for k, v in scores.items()},
        }
        for i, rec in enumerate(recs)
    ]
    out: dict[str, Any] = {
        "what": "one image per test-split lesion as a 12 MP phone-dermatoscope capture "
        "(triage.captures: round field of view 45-90% of the short side, soft edge, dark "
        "surround, up to 12% off-centre, zoom 0.8/1.0/1.2, any rotation, white balance +-12%, "
        "JPEG q90) through imaging.pipeline.process_image, ai_input assessed by the model",
        "model_version": model.version,
    }
    for key in ("plain", "capture", "capture_old_framing"):
        out[key] = _summary(rows, key, n_boot)
    both = [r for r in rows if r["plain"] is not None and r["capture"] is not None]
    if both:
        y = np.array([r["malignant"] for r in both], dtype=bool)
        a = np.array([r["plain"] for r in both])
        b = np.array([r["capture"] for r in both])
        if y.any() and (~y).any():

            def diff(r: np.ndarray) -> float:
                return metrics.auroc(y[r], b[r]) - metrics.auroc(y[r], a[r])

            out["paired"] = {
                "n": len(both),
                "auroc_capture_minus_plain": diff(np.arange(len(both))),
                "ci": list(
                    metrics.bootstrap_ci([r["lesion_id"] for r in both], diff, n_boot=n_boot)
                ),
            }
    for zoom in sorted({r["zoom"] for r in rows}):
        out[f"capture_zoom_{zoom}"] = _summary([r for r in rows if r["zoom"] == zoom], "capture", 0)
    out["rows"] = rows
    return out


def one_per_lesion(records: list[Record], lesions: int, seed: int) -> list[Record]:
    first: dict[str, Record] = {}
    for rec in records:
        first.setdefault(rec.lesion_id, rec)
    chosen = list(first.values())
    if lesions and lesions < len(chosen):
        chosen = random.Random(seed).sample(chosen, lesions)
    return chosen


def main(argv: list[str] | None = None) -> None:
    from dermbridge.triage.training.data import (
        DEFAULT_SEED,
        ham10000_dir,
        lesion_grouped_splits,
        read_metadata,
    )

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="model card (default: shipped)")
    parser.add_argument("--lesions", type=int, default=0, help="random subset of test lesions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=PHOTO_SIZE[0], help="photo width (12 MP)")
    parser.add_argument("--height", type=int, default=PHOTO_SIZE[1])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/captures.json"))
    parser.add_argument(
        "--frames",
        type=Path,
        default=Path("var/triage/capture-frames.npz"),
        help="model-frame pixels of the captures: made once, rescored by later models",
    )
    args = parser.parse_args(argv)
    data = ham10000_dir()
    test = lesion_grouped_splits(read_metadata(data / "metadata.csv"), seed=DEFAULT_SEED)["test"]
    records = one_per_lesion(test, args.lesions, args.seed)
    model = load_model(args.model)
    if args.frames.exists():
        with np.load(args.frames) as saved:
            frames = {k: saved[k] for k in saved.files}
    else:
        frames = make_frames(records, data / "images", args.seed, size=(args.width, args.height))
        args.frames.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.frames, **frames)
    result = measure(model, test, frames, args.bootstrap)
    result["photo_size"] = [int(v) for v in frames.get("photo_size", PHOTO_SIZE)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    main()
