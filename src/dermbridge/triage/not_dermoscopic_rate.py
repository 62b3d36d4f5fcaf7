"""How often the AI calls a real dermoscopic photo "not a dermoscopic photo" (its false-positive rate).

The triage model declines an image whose colours or features are unlike its training images
(``NOT_DERMOSCOPIC_REASONS``); the photo page shows that as the AI's own note. This measures the
note's false-positive rate on HAM10000 — every image there is a real dermoscopic photo — over all
images and over the lesion-grouped test split the model never trained on (the honest number).

    python -m dermbridge.triage.not_dermoscopic_rate [--limit N] [--out FILE.json]

Reads ``../shared/data/ham10000`` (never copied into the repository).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "docs" / "benchmarks" / "not-dermoscopic.json"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for k of n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def measure(data_dir: Path, limit: int | None = None) -> dict[str, Any]:
    """Rates over all images and the test split; ``limit`` takes the first N of each (fast runs)."""
    from dermbridge.triage.inference import get_model
    from dermbridge.triage.services import NOT_DERMOSCOPIC_REASONS
    from dermbridge.triage.training.data import DEFAULT_SEED, lesion_grouped_splits, read_metadata

    model = get_model()
    if model is None:
        raise RuntimeError("no shipped triage model")
    records = read_metadata(data_dir / "metadata.csv")
    test_ids = {r.image_id for r in lesion_grouped_splits(records, seed=DEFAULT_SEED)["test"]}
    if limit is not None:
        records = [r for r in records if r.image_id in test_ids][:limit]
    counts: dict[str, Counter[str]] = {"all": Counter(), "test": Counter()}
    for rec in records:
        with Image.open(data_dir / "images" / f"{rec.image_id}.jpg") as img:
            result = model.assess(img.convert("RGB"))
        if not result.abstained:
            outcome = "assessed"
        elif result.abstention_reason in NOT_DERMOSCOPIC_REASONS:
            outcome = "not_dermoscopic"
        else:
            outcome = "declined_other"
        groups = ("all", "test") if rec.image_id in test_ids else ("all",)
        for group in groups:
            counts[group][outcome] += 1
            counts[group][f"dx:{rec.dx}:{outcome}"] += 1
    report: dict[str, Any] = {"model": model.version, "split_seed": DEFAULT_SEED, "groups": {}}
    for group, c in counts.items():
        n = c["assessed"] + c["not_dermoscopic"] + c["declined_other"]
        k = c["not_dermoscopic"]
        low, high = wilson(k, n)
        report["groups"][group] = {
            "images": n,
            "not_dermoscopic": k,
            "declined_other": c["declined_other"],
            "false_positive_rate": round(k / n, 4) if n else None,
            "ci95": [round(low, 4), round(high, 4)] if n else None,
            "by_dx": {
                dx: {
                    "images": sum(
                        c[f"dx:{dx}:{o}"] for o in ("assessed", "not_dermoscopic", "declined_other")
                    ),
                    "not_dermoscopic": c[f"dx:{dx}:not_dermoscopic"],
                }
                for dx in sorted({key.split(":")[1] for key in c if key.startswith("dx:")})
            },
        }
    return report


def main(argv: list[str] | None = None) -> int:
    import django

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    django.setup()
    from dermbridge.triage.training.data import ham10000_dir

    data = ham10000_dir()
    if not (data / "metadata.csv").exists():
        print(f"HAM10000 not found at {data}", file=sys.stderr)
        return 2
    report = measure(data, args.limit)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        json.dumps(
            {g: {k: v for k, v in r.items() if k != "by_dx"} for g, r in report["groups"].items()}
        )
    )
    return 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dermbridge.settings")
    raise SystemExit(main())
