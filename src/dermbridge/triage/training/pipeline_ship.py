"""Whether a refitted model replaces the shipped one, and moving its files into place.

The decision is made on the validation split, before the test split is scored: the candidate's
validation selection score (mean of balanced accuracy and malignant AUROC, as calibrated) must
beat the shipped card's by ``SHIP_MIN_SCORE_GAIN``. A candidate that does not is left in its
staging directory with the decision in its card, and the shipped files are not touched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from dermbridge.triage.inference import sha256_file
from dermbridge.triage.training.data import Record, load_arrays
from dermbridge.triage.training.pipeline_fit import _scores as scores
from dermbridge.triage.training.pipeline_graph import graph_input_size, run_graph
from dermbridge.triage.training.pipeline_report import write_card
from dermbridge.triage.training.pipeline_settings import SHIP_MIN_SCORE_GAIN


def validation_score(card: dict[str, Any]) -> float:
    """The validation selection score of the calibration a fitted card ships."""
    method = card["calibration_method"]
    return float(method["candidates_on_validation"][method["chosen"]]["validation_selection_score"])


def shipped_validation_scores(
    card_path: Path, records: list[Record], images_dir: Path, cache_dir: Path | None
) -> dict[str, float]:
    """The shipped model's validation numbers, recomputed on the rows the candidate was scored on
    (the same split, or a smoke run's few rows): its graph at its own input size, with its
    temperature and class offsets. Fusion, when shipped, is left out on both sides."""
    card = json.loads(card_path.read_text())
    graph = card_path.parent / card["model_file"]
    frames, labels = load_arrays(
        records, images_dir, cache_dir, "validation (shipped model)", graph_input_size(graph)
    )
    logits = run_graph(graph, frames, cache_dir=cache_dir)[0]
    return scores(logits, labels, float(card["temperature"]), np.asarray(card["class_bias"]))


def ship_decision(
    candidate: dict[str, Any],
    shipped_version: str | None,
    shipped_scores: dict[str, float] | None,
    bypass: bool = False,
) -> dict[str, Any]:
    """Compare a fitted candidate with the shipped model on the same validation rows.

    ``bypass`` (``--no-ship-gate``) is for reproducing the shipped model itself; the card says so.
    """
    score = validation_score(candidate)
    if shipped_scores is None:
        return {"ships": True, "validation_selection_score": score, "shipped_version": None}
    base = shipped_scores["validation_selection_score"]
    gain = score - base
    return {
        "ships": bypass or gain >= SHIP_MIN_SCORE_GAIN,
        "bypassed": bypass,
        "validation_selection_score": score,
        "shipped_version": shipped_version,
        "shipped_validation": shipped_scores,
        "shipped_validation_selection_score": base,
        "gain": gain,
        "min_gain": SHIP_MIN_SCORE_GAIN,
        "rule": f"replaces the shipped model only if its validation selection score (mean of "
        f"balanced accuracy and malignant AUROC, as calibrated) is at least {SHIP_MIN_SCORE_GAIN} "
        f"higher than the shipped model's on the same images; decided before the test split is "
        f"scored",
    }


def decision_text(decision: dict[str, Any]) -> str:
    """One line for the console and the card."""
    if decision.get("shipped_version") is None:
        return "No shipped model to compare with: the candidate ships."
    verb = "ships" if decision["ships"] else "NOT SHIPPED"
    how = " (gate bypassed: --no-ship-gate)" if decision.get("bypassed") else ""
    return (
        f"Candidate {verb}{how}: validation selection score {decision['validation_selection_score']:.3f} "
        f"vs {decision['shipped_validation_selection_score']:.3f} for the shipped "
        f"{decision['shipped_version']} ({decision['gain']:+.3f}; at least "
        f"{decision['min_gain']:+.3f} needed)."
    )


def promote(staging: Path, models_dir: Path, card: dict[str, Any]) -> None:
    """Copy a candidate's graph and detector arrays from ``staging`` into ``models_dir`` and
    write its card there. A file already shipped with the same sha256 (a refit of a shipped
    graph, or detectors identical to an earlier card's) is shared rather than copied again."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for name_key, sha_key in (("model_file", "sha256"), ("ood_file", "ood_sha256")):
        source = staging / card[name_key]
        same = next(
            (
                p
                for p in sorted(models_dir.glob(f"*{source.suffix}"))
                if sha256_file(p) == card[sha_key]
            ),
            None,
        )
        if same is not None:
            card[name_key] = same.name
            continue
        target = models_dir / source.name
        for other in sorted(models_dir.glob("*.json")):
            named = json.loads(other.read_text())
            if named.get("version") != card["version"] and named.get(name_key) == target.name:
                raise FileExistsError(
                    f"{target} belongs to {named.get('version')}'s card and differs from the "
                    f"candidate's: give the candidate a new VERSION (pipeline_settings.py)"
                )
        shutil.copyfile(source, target)
    write_card(models_dir, card)
