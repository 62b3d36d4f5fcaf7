"""``dermbridge triage-eval``: score the shipped triage model on a labelled image folder.

Example::

    dermbridge triage-eval --images ../shared/data/ham10000/images \
        --metadata ../shared/data/ham10000/metadata.csv --out var/triage-eval.json

The CSV has the HAM10000 columns (lesion_id, image_id, dx, ...); images are
``<images>/<image_id>.jpg``. Labels are used only to score. No database access.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.triage.dataset import read_metadata
from dermbridge.triage.evaluation import assess_images, summarise
from dermbridge.triage.inference import ModelUnavailable, load_model
from dermbridge.triage.labels import CLASSES


def _json_safe(value: Any) -> Any:
    """NaN is not valid JSON; write null instead (e.g. an AUROC with only one class present)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


class Command(BaseCommand):
    help = "Evaluate the shipped triage model on labelled dermoscopic images and write JSON."
    # Pure file-in/file-out: no system checks or migrations, so no database is needed.
    requires_system_checks: list[str] = []  # type: ignore[assignment]
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--images", type=Path, required=True, help="folder of <image_id>.jpg")
        parser.add_argument("--metadata", type=Path, required=True, help="HAM10000-style CSV")
        parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
        parser.add_argument("--model", type=Path, default=None, help="model card (.json)")
        parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
        parser.add_argument("--limit", type=int, default=0, help="only the first N rows")
        parser.add_argument(
            "--split",
            choices=["train", "validation", "calibration", "test"],
            default=None,
            help="HAM10000 only: keep this lesion-grouped split (seed from the model card), "
            "e.g. --split test reproduces the model card's test numbers",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        # call_command(...) passes keyword values through unconverted: coerce to Path here.
        for key in ("images", "metadata", "out", "model"):
            if opts.get(key) is not None:
                opts[key] = Path(opts[key])
        try:
            model = load_model(opts["model"])
        except ModelUnavailable as exc:
            raise CommandError(f"No AI assessment available: {exc}") from exc
        records = [r for r in read_metadata(opts["metadata"]) if r.dx in CLASSES]
        if opts["split"]:
            from dermbridge.triage.training.data import lesion_grouped_splits

            seed = int(model.card["data"]["split_seed"])
            records = lesion_grouped_splits(records, seed=seed)[opts["split"]]
        if opts["limit"]:
            records = records[: opts["limit"]]
        missing = [
            r.image_id for r in records if not (opts["images"] / f"{r.image_id}.jpg").exists()
        ]
        if missing:
            raise CommandError(f"{len(missing)} images missing, e.g. {missing[0]}.jpg")
        if not records:
            raise CommandError("no labelled rows in the metadata file")
        scored = assess_images(model, records, opts["images"], progress=opts["verbosity"] > 0)
        result = summarise(scored, model.rule_out, model.version, n_boot=opts["bootstrap"])
        opts["out"].parent.mkdir(parents=True, exist_ok=True)
        opts["out"].write_text(json.dumps(_json_safe(result), indent=2) + "\n")
        self.stdout.write(
            f"n={result['n']} abstained={result['abstained']} "
            f"accuracy={result['accuracy']:.3f} balanced_accuracy={result['balanced_accuracy']:.3f} "
            f"malignant_auroc={result['malignant_auroc']:.3f} "
            f"sensitivity={result['sensitivity']:.3f} specificity={result['specificity']:.3f} "
            f"-> {opts['out']}"
        )
