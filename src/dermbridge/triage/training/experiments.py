"""Score a trained checkpoint on the validation split the way the pipeline would ship it.

``python -m dermbridge.triage.training.experiments --checkpoint RUN/final.pt --name NAME``
computes the network's logits with flip test-time augmentation (as the exported graph does) on
the validation and calibration splits, fits the temperature on the calibration split, and records
the validation numbers with plain temperature scaling and with the best post-hoc logit adjustment
(``logit_adjust.py``), plus the training run's settings and seconds per step, in
``experiments.json`` beside this module (the model card's experiments table reads it). Nothing
here looks at the test split. Several ``--checkpoint`` (and ``--graph``, an exported network such as
the shipped one) make an ensemble: the mean of the members' logits, each member given the
frames at its own input size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dermbridge.triage import calibration, metrics
from dermbridge.triage.inference import sha256_file
from dermbridge.triage.training import logit_adjust
from dermbridge.triage.training.augment import to_tensor
from dermbridge.triage.training.data import (
    DEFAULT_SEED,
    REPO_DIR,
    ham10000_dir,
    lesion_grouped_splits,
    load_arrays,
    read_metadata,
)
from dermbridge.triage.training.export import load_checkpoint
from dermbridge.triage.training.model import ExportWrapper
from dermbridge.triage.training.pipeline_graph import graph_input_size, run_graph

EXPERIMENTS_FILE = Path(__file__).resolve().parent / "experiments.json"


@torch.no_grad()
def tta_logits(checkpoint: Path, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """Logits of a checkpoint with the exported graph's flip averaging, for uint8 NxHxWx3."""
    wrapper = ExportWrapper(load_checkpoint(checkpoint)).eval()
    out = [
        wrapper(to_tensor(torch.from_numpy(frames[i : i + batch])))[0].numpy()
        for i in range(0, len(frames), batch)
    ]
    return np.concatenate(out)


def score(
    cal: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], prior: np.ndarray
) -> dict[str, Any]:
    """Validation numbers with plain temperature scaling and with the best logit adjustment."""
    t = calibration.fit_temperature(*cal)
    plain = logit_adjust.scores(metrics.softmax(val[0] / t), val[1])
    best = logit_adjust.choose(logit_adjust.sweep(*cal, *val, prior))
    return {"temperature": {"T": t, **plain}, "logit_adjusted": best}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, action="append", default=[])
    parser.add_argument(
        "--graph",
        type=Path,
        action="append",
        default=[],
        help="an exported graph (.onnx) as a further ensemble member, e.g. the shipped "
        "triage-v2.onnx; each member sees frames at its own input size",
    )
    parser.add_argument("--name", required=True, help="row title in the experiments table")
    parser.add_argument("--out", type=Path, default=EXPERIMENTS_FILE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--verdict", default=None, help="only set the verdict of the recorded experiment NAME"
    )
    args = parser.parse_args(argv)
    existing = json.loads(args.out.read_text()) if args.out.exists() else []
    if args.verdict is not None:
        found = [e for e in existing if e["name"] == args.name]
        if not found:
            parser.error(f"--verdict: no experiment named {args.name!r} in {args.out}")
        found[0]["verdict"] = args.verdict
        args.out.write_text(json.dumps(existing, indent=2) + "\n")
        return
    if not args.checkpoint and not args.graph:
        parser.error("--checkpoint or --graph is required (one per ensemble member)")
    torch.set_num_threads(args.threads)
    data = ham10000_dir()
    splits = lesion_grouped_splits(read_metadata(data / "metadata.csv"), seed=DEFAULT_SEED)
    states = [torch.load(c, weights_only=False, map_location="cpu") for c in args.checkpoint]
    configs = [s.get("config", {}) for s in states]
    sizes = [(c.get("input_width", 160), c.get("input_height", 120)) for c in configs]
    graph_sizes = [graph_input_size(g) for g in args.graph]
    cache = REPO_DIR / "var" / "triage" / "cache"
    outputs = {}
    for name in ("validation", "calibration"):
        member_logits = []
        for c, size in zip(args.checkpoint, sizes, strict=True):
            frames, labels = load_arrays(splits[name], data / "images", cache, name, size)
            member_logits.append(tta_logits(c, frames))
        for g, size in zip(args.graph, graph_sizes, strict=True):
            frames, labels = load_arrays(splits[name], data / "images", cache, name, size)
            member_logits.append(run_graph(g, frames, cache_dir=cache)[0])
        outputs[name] = (np.mean(member_logits, axis=0), labels)
    prior = logit_adjust.train_prior(np.array([r.label for r in splits["train"]]))
    result = score(outputs["calibration"], outputs["validation"], prior)
    runs = []
    for c, state in zip(args.checkpoint, states, strict=True):
        history_file = c.parent / "last.pt"
        history = (
            torch.load(history_file, weights_only=False, map_location="cpu")["history"]
            if history_file.exists()
            else []
        )
        cfg = state.get("config", {})
        steps = cfg.get("max_steps") or len(history) * -(-len(splits["train"]) // cfg["batch_size"])
        seconds = sum(h["seconds"] for h in history)
        runs.append(
            {
                "checkpoint": str(c.relative_to(REPO_DIR) if c.is_relative_to(REPO_DIR) else c),
                "member": c.parent.name,
                "config": cfg,
                "steps": steps,
                "seconds_training": seconds,
                "history": history,
            }
        )
    for g, size in zip(args.graph, graph_sizes, strict=True):
        runs.append(
            {
                "graph": str(g.relative_to(REPO_DIR) if g.is_relative_to(REPO_DIR) else g),
                "member": g.stem,
                "sha256": sha256_file(g),
                "input_size": list(size),
                "steps": 0,
                "seconds_training": 0.0,
            }
        )
    record = {
        "name": args.name,
        "measured": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "split": "validation",
        "runs": runs,
        "seconds_per_step": sum(r["seconds_training"] for r in runs)
        / max(1, sum(r["steps"] for r in runs)),
        **result,
    }
    # Re-read: another experiment may have been recorded while this one was scored.
    existing = json.loads(args.out.read_text()) if args.out.exists() else []
    existing = [e for e in existing if e["name"] != args.name] + [record]
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("name", "temperature", "logit_adjusted")}, indent=2))


if __name__ == "__main__":
    main()
