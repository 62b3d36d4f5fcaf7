"""``make bench``: per-image latency of the shipped ONNX model vs the PyTorch eager model.

Both run on one CPU thread on the same 160x120 frames in the same process. The onnxruntime
number is for the full runtime path (``TriageModel.assess_rgb``: quality gate, flip-averaged
network, Mahalanobis detector, calibration); the eager number is the network alone with the same
flip averaging. PyTorch is optional: without the ``train`` extra only onnxruntime is measured.
The eager model loads the training checkpoint when ``var/triage/run/best.pt`` exists, otherwise
the same architecture with random weights (latency does not depend on the weight values); for
an ensemble, each member's architecture in turn. A model shipped as its ensemble members
(ADR 0021) is also timed against the one graph it was evaluated as, side by side, and an INT8
copy of a model (ADR 0022) against the float model it was quantized from.

Run: ``python -m dermbridge.triage.bench [--n 200] [--out FILE.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dermbridge.config import env_path
from dermbridge.triage.dataset import read_metadata
from dermbridge.triage.inference import DEFAULT_CARD, TriageModel, load_model
from dermbridge.triage.preprocessing import INPUT_HEIGHT, INPUT_WIDTH, normalise, to_rgb_array

REPO_DIR = Path(__file__).resolve().parents[3]
TARGET_P50_MS = 30.0


def _frames(n: int) -> np.ndarray:
    """Real test-split dermoscopy when the shared data is present, else smooth random frames."""
    try:
        ham = env_path("SHARED_DIR", REPO_DIR.parent / "shared") / "data" / "ham10000"
        recs = read_metadata(ham / "metadata.csv")[:n]
        out = []
        for r in recs:
            with Image.open(ham / "images" / f"{r.image_id}.jpg") as img:
                out.append(to_rgb_array(img))
        return np.stack(out)
    except (OSError, KeyError, ValueError):
        rng = np.random.default_rng(0)
        return rng.integers(60, 200, (n, INPUT_HEIGHT, INPUT_WIDTH, 3), dtype=np.uint8)


def _summary(times_ms: list[float]) -> dict[str, float]:
    t = np.asarray(times_ms)
    return {"p50_ms": float(np.median(t)), "p95_ms": float(np.quantile(t, 0.95)), "n": len(t)}


def bench_onnx(frames: np.ndarray, model: TriageModel | None = None) -> dict[str, Any]:
    model = model or load_model(threads=1)
    for f in frames[:5]:
        model.assess_rgb(f)  # warm-up
    times = []
    for f in frames:
        t0 = time.perf_counter()
        model.assess_rgb(f)
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"model_version": model.version, **_summary(times)}


def _backbones(model: TriageModel | None) -> list[str]:
    """The eager networks the shipped model runs: one per ensemble member (its backbone), else
    one, triage-v2's EfficientNet-Lite0."""
    members = ((model.card if model else {}).get("training") or {}).get("ensemble") or []
    found = [(m.get("training") or {}).get("backbone") or "efficientnet-lite0" for m in members]
    return found or ["efficientnet-lite0"]


def bench_eager(frames: np.ndarray, model: TriageModel | None = None) -> dict[str, Any] | None:
    try:
        import torch

        from dermbridge.triage.training.export import load_checkpoint
        from dermbridge.triage.training.model import ExportWrapper, TriageNet
    except ImportError:
        return None
    torch.set_num_threads(1)
    ckpt = REPO_DIR / "var" / "triage" / "run" / "best.pt"
    backbones = _backbones(model)
    if len(backbones) == 1 and ckpt.exists():
        networks = [load_checkpoint(ckpt)]
    else:
        size = model.input_size if model else (INPUT_WIDTH, INPUT_HEIGHT)
        networks = [TriageNet(False, size, b).eval() for b in backbones]
    wrappers = [ExportWrapper(n, tta=True).eval() for n in networks]

    times = []
    with torch.no_grad():
        for i, f in enumerate(frames):
            t0 = time.perf_counter()
            x = torch.from_numpy(normalise(f[None]))
            for wrapper in wrappers:  # an ensemble runs each member
                wrapper(x)
            if i >= 5:
                times.append((time.perf_counter() - t0) * 1000.0)
    weights = "checkpoint" if len(backbones) == 1 and ckpt.exists() else "random"
    return {"weights": weights, "networks": backbones, **_summary(times)}


def bench_members_vs_graph(frames: np.ndarray, model: TriageModel) -> dict[str, Any] | None:
    """For the shipped model, when shipped as its ensemble members (ADR 0021): ``assess_rgb``
    through the members against the same card run as the one merged graph it was evaluated as,
    frame by frame in alternation, so both see the same machine load; None for a single-graph
    model or without the onnx package (the ``train`` extra) to merge with."""
    if not model.card.get("members"):
        return None
    try:
        from dermbridge.triage.training.ensemble_graph import graph_for_card

        graph = graph_for_card(DEFAULT_CARD)  # merging needs onnx
    except ImportError:
        return None
    single = TriageModel(model.card, [graph], DEFAULT_CARD.parent / model.card["ood_file"])
    members_ms, graph_ms = _alternate(frames, model, single)
    members, merged = _summary(members_ms), _summary(graph_ms)
    return {
        "members": members,
        "one_graph": merged,
        "p50_ratio_members_to_graph": members["p50_ms"] / merged["p50_ms"],
    }


def _alternate(
    frames: np.ndarray, a: TriageModel, b: TriageModel
) -> tuple[list[float], list[float]]:
    """``assess_rgb`` per frame through ``a`` and ``b`` in alternation (the order swapped every
    frame), so both see the same machine load; after five warm-up frames each."""
    for f in frames[:5]:
        a.assess_rgb(f)
        b.assess_rgb(f)
    a_ms: list[float] = []
    b_ms: list[float] = []
    for i, f in enumerate(frames):
        order = ((a, a_ms), (b, b_ms))
        for which, times in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            which.assess_rgb(f)
            times.append((time.perf_counter() - t0) * 1000.0)
    return a_ms, b_ms


def bench_int8_vs_float(frames: np.ndarray, model: TriageModel) -> dict[str, Any] | None:
    """For a shipped INT8 copy (ADR 0022): ``assess_rgb`` through it against the float model it
    was quantized from (its card, still in ``models/``), side by side; None otherwise."""
    source = (model.card.get("training") or {}).get("quantized_from")
    card = DEFAULT_CARD.parent / f"{source['version']}.json" if source else None
    if card is None or not card.is_file():
        return None
    float_model = load_model(card, threads=1)
    int8_ms, float_ms = _alternate(frames, model, float_model)
    int8, floating = _summary(int8_ms), _summary(float_ms)
    return {
        "int8": {"model_version": model.version, **int8},
        "float": {"model_version": float_model.version, **floating},
        "p50_ratio_int8_to_float": int8["p50_ms"] / floating["p50_ms"],
    }


def run(n: int = 200) -> dict[str, Any]:
    model = load_model(threads=1)
    # Both sides get frames at the shipped model's input size (the eager network is size-free).
    frames = np.stack([model.frame(f) for f in _frames(n)])
    result: dict[str, Any] = {
        "onnxruntime": bench_onnx(frames, model),
        "pytorch_eager": bench_eager(frames, model),
        "ensemble_members_vs_one_graph": bench_members_vs_graph(frames, model),
        "int8_vs_float": bench_int8_vs_float(frames, model),
        "target_p50_ms": TARGET_P50_MS,
    }
    result["target_met"] = result["onnxruntime"]["p50_ms"] <= TARGET_P50_MS
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.n)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
