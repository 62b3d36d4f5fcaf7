"""Two exported networks as one ONNX graph: an ensemble the runtime loads like any single model.

``python -m dermbridge.triage.training.ensemble_graph --checkpoint RUN/best.pt --graph
src/dermbridge/triage/models/triage-v2.onnx --out var/triage/ensemble/ensemble.onnx``

The first member (a trained checkpoint, exported here) takes the graph's input, ``image``, at its
own size (200x150 for a member trained at the data's full resolution); a member at another size
gets an input of its own, ``image_<W>x<H>``, which the runtime fills with the same picture resized
by Pillow exactly as that member's training and validation frames were
(``TriageModel.run``). The ensemble's logits are the mean of the members' logits (each member
already averages itself with its horizontal flip); its penultimate features, which the
out-of-distribution detector is fitted on, are the last member's (the shipped triage-v2
network's, whose detector behaviour is measured): one 1280-d vector, so the detector arrays
stay the size they were. A card-like JSON beside the graph records what the members are, for the
training pipeline's ``--from-graph``.

Only the training pipeline imports this (onnx is in the ``train`` extra); the runtime sees one
graph with two outputs, ``logits`` and ``features``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17


def merge(first: Path, others: list[Path], out: Path) -> tuple[int, int]:
    """Write the ensemble graph of ``first`` (sets the input size) and ``others``; returns the
    input (width, height)."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    models = [onnx.load(str(p)) for p in [first, *others]]
    dims = models[0].graph.input[0].type.tensor_type.shape.dim
    height, width = int(dims[2].dim_value), int(dims[3].dim_value)
    nodes: list[Any] = []
    inits: list[Any] = []
    logits, feats = [], []
    extra_inputs: dict[str, Any] = {}
    for i, model in enumerate(models):
        prefixed = compose.add_prefix(model, prefix=f"m{i}_")
        g = prefixed.graph
        member_in = g.input[0].name
        d = g.input[0].type.tensor_type.shape.dim
        h, w = int(d[2].dim_value), int(d[3].dim_value)
        if (h, w) == (height, width):
            nodes.append(helper.make_node("Identity", ["image"], [member_in]))
        else:
            # A member at another size gets its own input: the runtime resizes the frame for
            # it exactly as its training frames were resized (Pillow, whole grey levels), so
            # the ensemble computes what was measured on validation.
            name = f"image_{w}x{h}"
            if name not in extra_inputs:
                extra_inputs[name] = helper.make_tensor_value_info(
                    name, TensorProto.FLOAT, ["batch", 3, h, w]
                )
            nodes.append(helper.make_node("Identity", [name], [member_in]))
        nodes.extend(g.node)
        inits.extend(g.initializer)
        outs = {o.name.removeprefix(f"m{i}_"): o.name for o in g.output}
        logits.append(outs["logits"])
        feats.append(outs["features"])
    nodes.append(helper.make_node("Sum", logits, ["logits_sum"]))
    inits.append(numpy_helper.from_array(np.array(1.0 / len(models), np.float32), "inv_members"))
    nodes.append(helper.make_node("Mul", ["logits_sum", "inv_members"], ["logits"]))
    nodes.append(helper.make_node("Identity", [feats[-1]], ["features"]))
    graph = helper.make_graph(
        nodes,
        "triage_ensemble",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, height, width]),
            *extra_inputs.values(),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 7]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", None]),
        ],
        initializer=inits,
    )
    merged = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    merged.ir_version = models[0].ir_version
    onnx.checker.check_model(merged)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(merged, str(out))
    return width, height


def stage_members(
    graph: Path, members: list[dict[str, Any]] | None, out_dir: Path, version: str
) -> list[dict[str, Any]] | None:
    """Copy the member graphs of an ensemble ``graph`` made by :func:`main` into ``out_dir`` for
    the card's ``members`` (the runtime runs them and averages their logits, so promotion never
    commits a network a second time, nor one graph over the repository's file-size limit). The
    first member is the graph :func:`main` exported beside ``graph``; the others are the graphs
    it was given. None when ``graph`` is not such an ensemble, a member's graph cannot be found,
    or the members do not merge back into ``graph`` bit for bit: the card then ships ``graph``
    itself."""
    from dermbridge.triage.inference import MODELS_DIR, sha256_file

    if not members:
        return None
    staged: list[dict[str, Any]] = []
    for i, member in enumerate(members):
        if i == 0:
            source = graph.with_suffix(f".member{i}.onnx")
            target = out_dir / f"{version}-member{i}.onnx"
        else:
            source = Path(member.get("graph_path") or MODELS_DIR / str(member.get("graph")))
            target = out_dir / source.name
        if not source.is_file():
            return None
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        staged.append(
            {
                "file": target.name,
                "sha256": sha256_file(target),
                "input": member["input"],
                "name": member["name"],
            }
        )
    rebuilt = out_dir / f"{graph.stem}.rebuilt.onnx"
    try:
        merge(out_dir / staged[0]["file"], [out_dir / m["file"] for m in staged[1:]], rebuilt)
        same = sha256_file(rebuilt) == sha256_file(graph)
    finally:
        rebuilt.unlink(missing_ok=True)
    return staged if same else None


def graph_for_card(card_path: Path, work_dir: Path | None = None) -> Path:
    """The single graph a card was fitted and evaluated as, for the training pipeline (which
    runs one graph): its ``model_file`` when present, or, for an ensemble shipped as its
    members, the members merged again into ``work_dir`` (default: the system's temporary
    folder); raises ``ValueError`` unless the rebuilt graph's sha256 is the card's."""
    from dermbridge.triage.inference import sha256_file

    card = json.loads(card_path.read_text())
    graph = card_path.parent / card["model_file"]
    if graph.is_file() or not card.get("members"):
        return graph
    folder = work_dir or Path(tempfile.gettempdir()) / "dermbridge-graphs"
    out = folder / f"{card['sha256'][:16]}-{card['model_file']}"
    if out.is_file() and sha256_file(out) == card["sha256"]:
        return out  # merged earlier
    first, *others = (card_path.parent / m["file"] for m in card["members"])
    merge(first, list(others), out)
    actual = sha256_file(out)
    if actual != card["sha256"]:
        raise ValueError(
            f"{card['version']}'s members merge into a graph with sha256 {actual}, "
            f"not the card's {card['sha256']}"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    import torch

    from dermbridge.triage.inference import sha256_file
    from dermbridge.triage.training.export import export_onnx, load_checkpoint

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, required=True, help="the first member")
    parser.add_argument("--graph", type=Path, action="append", default=[], required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    first = export_onnx(load_checkpoint(args.checkpoint), args.out.with_suffix(".member0.onnx"))
    width, height = merge(first, args.graph, args.out)
    state = torch.load(args.checkpoint, weights_only=False, map_location="cpu")
    history_file = args.checkpoint.parent / "history.json"
    members: list[dict[str, Any]] = [
        {
            "name": args.checkpoint.parent.name,
            "checkpoint": args.checkpoint.name,
            "input": [width, height],
            "training": {
                **state["config"],
                "selected_epoch": state["epoch"],
                "history": json.loads(history_file.read_text()) if history_file.exists() else [],
                "torch": torch.__version__,
            },
        }
    ]
    for g in args.graph:
        parent = json.loads(g.with_suffix(".json").read_text())
        members.append(
            {
                "name": parent["version"],
                "graph": g.name,
                "graph_path": str(g),
                "sha256": sha256_file(g),
                "input": [parent["input"]["width"], parent["input"]["height"]],
                "training": parent["training"],
            }
        )
    card = {
        "version": args.out.stem,
        "input": {"width": width, "height": height},
        # What the pipeline's card describes as "the training": the first member's run, with
        # the ensemble's members beside it.
        "training": {**members[0]["training"], "ensemble": members},
    }
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({"graph": str(args.out), "input": [width, height]}))


if __name__ == "__main__":
    main()
