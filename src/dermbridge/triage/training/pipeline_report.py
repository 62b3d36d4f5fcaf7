"""The pipeline's outputs: the card JSON, and abstention, non-skin and capture results through the runtime API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dermbridge.triage.inference import graph_files, load_model
from dermbridge.triage.training.data import (
    Record,
)


def write_card(out_dir: Path, card: dict[str, Any]) -> None:
    """``<version>.json`` and ``<version>.sha256`` in ``out_dir``, named by the card's version."""
    version = card["version"]
    (out_dir / f"{version}.json").write_text(json.dumps(card, indent=2) + "\n")
    # The files the runtime checks (``sha256sum -c``): an ensemble shipped as its members
    # lists each member's graph rather than the single graph it was evaluated as.
    files = [*graph_files(card), (card["ood_file"], card["ood_sha256"])]
    lines = [f"{sha}  {name}" for name, sha in files]
    (out_dir / f"{version}.sha256").write_text("\n".join(lines) + "\n")


def ood_abstention(model_card: Path, test_frames: np.ndarray) -> dict[str, Any]:
    """Abstention rate per out-of-distribution category, through the runtime API."""
    from dermbridge.triage.training.ood import assemble

    model = load_model(model_card)
    result: dict[str, Any] = {}
    total = declined = 0
    for name, frames in assemble(test_frames).items():
        d = sum(model.assess_rgb(f).abstained for f in frames)
        result[name] = {"n": len(frames), "abstained": d, "rate": d / len(frames)}
        total, declined = total + len(frames), declined + d
    result["all"] = {"n": total, "abstained": declined, "rate": declined / max(1, total)}
    return result


def non_skin(model_card: Path) -> dict[str, Any]:
    """Decline rate on every picture the installed packages ship, plus generated non-photos."""
    from dermbridge.triage.training.ood import non_skin_measurement

    return non_skin_measurement(load_model(model_card))


def captures(model_card: Path, test: list[Record], frame_files: list[Path]) -> list[dict[str, Any]]:
    """Phone-dermatoscope captures of test lesions through the real pipeline (made once by
    ``python -m dermbridge.triage.capture_bench``; rescored here with the new model)."""
    from dermbridge.triage.capture_bench import measure

    model = load_model(model_card)
    out = []
    for path in frame_files:
        if not path.exists():
            out.append({"frames": str(path), "missing": True})
            continue
        with np.load(path) as saved:
            frames = {k: saved[k] for k in saved.files}
        result = measure(model, test, frames)
        result.pop("rows", None)
        size = [int(v) for v in frames.get("photo_size", (4000, 3000))]
        out.append({"frames": path.name, "photo_size": size, **result})
    return out
