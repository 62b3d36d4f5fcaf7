"""INT8 copies of the shipped model's networks, for latency (ADR 0022).

``python -m dermbridge.triage.training.quantize --out var/triage/int8/triage-v3.4.onnx``

Each network the shipped card runs (its members, or its one graph) is quantized statically with
onnxruntime's own tool: weights per output channel as signed 8-bit with the range reduced to 7
bits, activations as unsigned 8-bit with MinMax ranges observed on ``CALIBRATION_FRAMES``
training-split frames (a fixed seed, so the same frames every time), in QDQ form, after
onnxruntime's pre-processing (shape inference and graph clean-up). The 7-bit weight range
keeps the integer products within 16 bits on CPUs without VNNI instructions, where full-range
weights can saturate (onnxruntime's quantization guide). Every machine here has VNNI, so results
on a CPU without it, and the byte-identity of a rerun on another CPU (the activation ranges are
observed with onnxruntime's float kernels), were not measured.

The quantized networks are written as an ensemble graph and members exactly as
``ensemble_graph.py`` writes them (the first member beside the graph as ``<graph>.member0.onnx``,
the others as ``<graph name>-member<i>.onnx`` with ``graph_path``, so a full-range copy beside
the 7-bit one overwrites none of its files), with a card-like JSON naming
the model they were quantized from, so that ``pipeline --from-graph`` refits calibration,
thresholds and abstention on the INT8 outputs and its ship gate judges the copy by ADR 0022's
non-inferiority rule before the test split is scored.

Only the training pipeline imports this (onnx is in the ``train`` extra).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dermbridge.triage.inference import DEFAULT_CARD, sha256_file
from dermbridge.triage.preprocessing import normalise

# Training-split frames the activation ranges are observed on, and the seed that picks them.
CALIBRATION_FRAMES = 256
CALIBRATION_SEED = 20261201
SETTINGS = {
    "tool": "onnxruntime.quantization.quantize_static",
    "format": "QDQ",
    "weights": "int8, per output channel, range reduced to 7 bits",
    "activations": "uint8, per tensor, MinMax",
    "calibration_frames": CALIBRATION_FRAMES,
    "calibration_split": "train",
    "calibration_seed": CALIBRATION_SEED,
}
# ``--full-range``: the weights' whole 8-bit range, for the comparison ADR 0022 reports (it is
# not what ships: such weights can saturate on CPUs without VNNI).
FULL_RANGE_WEIGHTS = "int8, per output channel, full 8-bit range"


def settings(reduce_range: bool = True, n_frames: int = CALIBRATION_FRAMES) -> dict[str, Any]:
    """What a copy was made with, as its card records it."""
    return {
        **SETTINGS,
        **({} if reduce_range else {"weights": FULL_RANGE_WEIGHTS}),
        "calibration_frames": n_frames,
    }


def calibration_frames(frames: np.ndarray, n: int = CALIBRATION_FRAMES) -> np.ndarray:
    """The seeded choice of ``n`` frames (uint8 NxHxWx3) the activation ranges are observed on."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    pick = np.sort(rng.choice(len(frames), min(n, len(frames)), replace=False))
    return frames[pick]


def quantize_network(
    source: Path, target: Path, frames: np.ndarray, reduce_range: bool = True
) -> Path:
    """Write the INT8 copy of the exported network ``source`` to ``target``; ``frames`` (uint8
    NxHxWx3 at the network's input size) give the activation ranges; ``reduce_range`` keeps
    the weights to 7 bits (as shipped)."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    class Frames(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._feeds = iter([{name: normalise(frames[i : i + 1])} for i in range(len(frames))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))
        quantize_static(
            str(prepared),
            str(target),
            Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    return target


def _networks(card: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """(name, path, input size) of each network the card (in ``folder``) runs, in order."""
    if card.get("members"):
        return [
            {"name": m["name"], "path": folder / m["file"], "input": m["input"]}
            for m in card["members"]
        ]
    size = [card["input"]["width"], card["input"]["height"]]
    return [{"name": card["version"], "path": folder / card["model_file"], "input": size}]


def quantize_card(
    card_path: Path,
    out: Path,
    frames_at: Callable[[tuple[int, int]], np.ndarray],
    n_frames: int = CALIBRATION_FRAMES,
    reduce_range: bool = True,
) -> dict[str, Any]:
    """Quantize every network of the model at ``card_path`` and write the graph ``out`` (with
    its members beside it and the card-like ``out.json`` for ``pipeline --from-graph``).
    ``frames_at(size)`` gives the training-split frames (uint8 NxHxWx3) at a (width, height).
    Returns that JSON; refuses a card that is itself an INT8 copy (``ValueError``)."""
    from dermbridge.triage.training.ensemble_graph import merge

    card = json.loads(card_path.read_text())
    already = card["training"].get("quantized_from")
    if already:
        raise ValueError(
            f"{card['version']} is already the INT8 copy of {already['version']}: quantize "
            f"{already['version']}'s card instead"
        )
    members: list[dict[str, Any]] = []
    paths: list[Path] = []
    used: list[int] = []
    # Each INT8 member keeps its source's record (how it was trained, its checkpoint).
    networks = _networks(card, card_path.parent)
    sources = card["training"].get("ensemble") or [{"training": card["training"]}]
    if len(sources) != len(networks):
        raise ValueError(
            f"{card['version']} records {len(sources)} trained networks but runs "
            f"{len(networks)} graph(s): quantize an ensemble shipped as its members (ADR 0021)"
        )
    for net, source in zip(networks, sources, strict=True):
        if len(networks) > 1 and source.get("name") != net["name"]:
            raise ValueError(
                f"{card['version']}'s member {net['name']!r} does not match its training "
                f"record {source.get('name')!r}"
            )
    ensemble = len(networks) > 1
    for i, (net, source) in enumerate(zip(networks, sources, strict=True)):
        # One network is the graph itself; an ensemble's members are laid out as
        # ensemble_graph.py lays them out, then merged into the graph below.
        target = (
            out
            if not ensemble
            else out.with_suffix(".member0.onnx")
            if i == 0
            else out.parent / f"{out.stem}-member{i}.onnx"
        )
        width, height = net["input"]
        picked = calibration_frames(frames_at((width, height)), n_frames)
        used.append(len(picked))
        quantize_network(net["path"], target, picked, reduce_range)
        paths.append(target)
        members.append(
            {
                **{
                    k: v
                    for k, v in source.items()
                    if k not in ("file", "graph", "graph_path", "sha256")
                },
                "name": f"{net['name']}-int8",
                "quantized_from": {"file": net["path"].name, "sha256": sha256_file(net["path"])},
                "input": net["input"],
                **({"graph": target.name, "graph_path": str(target)} if i else {}),
                "sha256": sha256_file(target),
            }
        )
    if ensemble:
        merge(paths[0], paths[1:], out)
    training = {
        **card["training"],
        "quantized_from": {
            "version": card["version"],
            "sha256": card["sha256"],
            # The frames actually used (fewer than asked when the split has fewer).
            "settings": settings(reduce_range, min(used)),
        },
    }
    if ensemble:
        training["ensemble"] = members
    else:
        training.pop("ensemble", None)
    parent = {"version": out.stem, "input": card["input"], "training": training}
    out.with_suffix(".json").write_text(json.dumps(parent, indent=2) + "\n")
    return parent


def main(argv: list[str] | None = None) -> None:
    from dermbridge.triage.training.data import (
        DEFAULT_SEED,
        REPO_DIR,
        ham10000_dir,
        lesion_grouped_splits,
        load_arrays,
        read_metadata,
    )
    from dermbridge.triage.training.pipeline_settings import VERSION

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD, help="the model to quantize")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"default var/triage/int8/{VERSION}.onnx (-full-range.onnx with --full-range)",
    )
    parser.add_argument("--frames", type=int, default=CALIBRATION_FRAMES)
    parser.add_argument(
        "--full-range",
        action="store_true",
        help="weights over the full 8-bit range (for comparison; 7 bits ship, ADR 0022)",
    )
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error(f"--frames must be at least 1, not {args.frames}")
    suffix = "-full-range" if args.full_range else ""
    args.out = args.out or REPO_DIR / "var" / "triage" / "int8" / f"{VERSION}{suffix}.onnx"
    data = ham10000_dir()
    train = lesion_grouped_splits(read_metadata(data / "metadata.csv"), seed=DEFAULT_SEED)["train"]
    cache = REPO_DIR / "var" / "triage" / "cache"

    def frames_at(size: tuple[int, int]) -> np.ndarray:
        return load_arrays(train, data / "images", cache, "train", size)[0]

    parent = quantize_card(
        args.card, args.out, frames_at, args.frames, reduce_range=not args.full_range
    )
    print(
        json.dumps(
            {
                "graph": str(args.out),
                "quantized_from": parent["training"]["quantized_from"]["version"],
            }
        )
    )


if __name__ == "__main__":
    main()
