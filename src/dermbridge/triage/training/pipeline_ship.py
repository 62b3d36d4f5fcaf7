"""Whether a refitted model replaces the shipped one, and moving its files into place.

The decision is made on the validation split, before the test split is scored: the candidate's
validation selection score (mean of balanced accuracy and malignant AUROC, as calibrated) must
beat the shipped card's by ``SHIP_MIN_SCORE_GAIN``. A candidate that does not is left in its
staging directory with the decision in its card, and the shipped files are not touched.

A refit of the shipped network with the shipped calibration (same graph sha256, temperature and
class offsets: ``--from-graph`` after a change to how abstention is fitted) cannot change that
score, so it is judged on what it does change (ADR 0019): it ships only if it declines at least
``SHIP_MIN_ABSTENTION_DROP`` fewer validation images (plain frames and their capture views
together) and still declines at least ``SHIP_MIN_OOD_DECLINE`` of the out-of-distribution set
built from the validation split, no more than ``SHIP_MAX_OOD_LOSS`` below the shipped model.

An ensemble with the shipped network among its members (issue 15 item 4; ADR 0018, second
amendment) is judged for non-inferiority: selection score at most ``SHIP_ENSEMBLE_MAX_SCORE_LOSS``
below the shipped model's, malignant AUROC at least ``SHIP_ENSEMBLE_MIN_AUROC_GAIN`` above it,
malignant AUROC on the validation capture views at most ``SHIP_ENSEMBLE_MAX_VIEWS_AUROC_LOSS``
below, and abstention no worse than the limits above.

An INT8 copy of the shipped model's networks (``quantize.py``, ADR 0022) is there for latency,
so it is judged for non-inferiority alone: selection score and malignant AUROC at most
``SHIP_QUANTIZED_MAX_SCORE_LOSS`` / ``SHIP_QUANTIZED_MAX_AUROC_LOSS`` below the shipped model's,
on the capture views too, and abstention within the ensemble's limits.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from dermbridge.triage.inference import sha256_file
from dermbridge.triage.training.card_format import chosen_validation
from dermbridge.triage.training.data import Record, load_arrays, load_capture_views
from dermbridge.triage.training.ensemble_graph import graph_for_card
from dermbridge.triage.training.pipeline_fit import _scores as scores
from dermbridge.triage.training.pipeline_graph import graph_input_size, run_graph
from dermbridge.triage.training.pipeline_report import write_card
from dermbridge.triage.training.pipeline_settings import (
    CAPTURE_VIEW_SEEDS,
    SHIP_ENSEMBLE_MAX_ABSTENTION_RISE,
    SHIP_ENSEMBLE_MAX_SCORE_LOSS,
    SHIP_ENSEMBLE_MAX_VIEWS_AUROC_LOSS,
    SHIP_ENSEMBLE_MIN_AUROC_GAIN,
    SHIP_MAX_OOD_LOSS,
    SHIP_MIN_ABSTENTION_DROP,
    SHIP_MIN_OOD_DECLINE,
    SHIP_MIN_SCORE_GAIN,
    SHIP_QUANTIZED_MAX_AUROC_LOSS,
    SHIP_QUANTIZED_MAX_SCORE_LOSS,
)
from dermbridge.triage.training.quantize import SETTINGS as QUANTIZE_SETTINGS


def _card_and_graph(card_path: Path) -> tuple[dict[str, Any], Path]:
    """The card and the one graph it was evaluated as (an ensemble shipped as its members is
    merged again, its sha256 checked against the card's)."""
    return json.loads(card_path.read_text()), graph_for_card(card_path)


def _calibrated_scores(
    card: dict[str, Any],
    graph: Path,
    frames: np.ndarray,
    labels: np.ndarray,
    cache_dir: Path | None,
) -> dict[str, float]:
    """Validation numbers of ``graph`` on ``frames`` with the card's temperature and offsets."""
    logits = run_graph(graph, frames, cache_dir=cache_dir)[0]
    return scores(logits, labels, float(card["temperature"]), np.asarray(card["class_bias"]))


def validation_score(card: dict[str, Any]) -> float:
    """The validation selection score of the calibration a fitted card ships."""
    return chosen_validation(card, "validation_selection_score")


def shipped_validation_scores(
    card_path: Path, records: list[Record], images_dir: Path, cache_dir: Path | None
) -> dict[str, float]:
    """The shipped model's validation numbers, recomputed on the rows the candidate was scored on
    (the same split, or a smoke run's few rows): its graph at its own input size, with its
    temperature and class offsets. Fusion, when shipped, is left out on both sides."""
    card, graph = _card_and_graph(card_path)
    frames, labels = load_arrays(
        records, images_dir, cache_dir, "validation (shipped model)", graph_input_size(graph)
    )
    return _calibrated_scores(card, graph, frames, labels, cache_dir)


def same_network(candidate: dict[str, Any], shipped: dict[str, Any]) -> bool:
    """Whether ``candidate`` is the shipped network with the shipped calibration (so its
    validation selection score is the shipped model's, and only abstention can differ)."""
    # Within 1e-4: the same fit on the same logits, up to floating-point summation order.
    return (
        candidate["sha256"] == shipped["sha256"]
        and abs(float(candidate["temperature"]) - float(shipped["temperature"])) <= 1e-4
        and np.allclose(candidate["class_bias"], shipped["class_bias"], rtol=0, atol=1e-4)
    )


def keeps_shipped_network(candidate: dict[str, Any], shipped: dict[str, Any]) -> bool:
    """Whether ``candidate`` is an ensemble graph (``ensemble_graph.py``) with the shipped network
    among its members, judged by ADR 0018's non-inferiority rule rather than the gain."""
    members = (candidate.get("training") or {}).get("ensemble") or []
    return candidate["sha256"] != shipped["sha256"] and any(
        member.get("sha256") == shipped["sha256"] for member in members
    )


QUANTIZED_WEIGHTS = QUANTIZE_SETTINGS["weights"]


def quantized_copy(candidate: dict[str, Any], shipped: dict[str, Any]) -> bool:
    """Whether ``candidate`` is the INT8 copy of the shipped model's networks (``quantize.py``:
    its training names the shipped graph's sha256), judged by ADR 0022's non-inferiority rule.
    Only a copy made with the settings ADR 0022 chose counts: one with full-range weights
    (``quantize --full-range``, made for comparison) can saturate on CPUs without VNNI, so it
    has to beat the shipped model like any network."""
    source = (candidate.get("training") or {}).get("quantized_from") or {}
    weights = (source.get("settings") or {}).get("weights")
    return (
        candidate["sha256"] != shipped["sha256"]
        and source.get("sha256") == shipped["sha256"]
        and weights == QUANTIZED_WEIGHTS
    )


def views_malignant_auroc(
    card_path: Path, records: list[Record], images_dir: Path, cache_dir: Path | None
) -> float:
    """Malignant AUROC of the model at ``card_path`` (its graph at its own input size, its
    temperature and class offsets) on the validation images' seeded capture views."""
    card, graph = _card_and_graph(card_path)
    views = load_capture_views(
        records,
        images_dir,
        CAPTURE_VIEW_SEEDS["validation"],
        cache_dir,
        "validation",
        graph_input_size(graph),
    )
    labels = np.array([r.label for r in records], dtype=np.int64)
    return _calibrated_scores(card, graph, views, labels, cache_dir)["validation_malignant_auroc"]


def abstention_rates(
    card_path: Path, plain: np.ndarray, views: np.ndarray, ood: dict[str, np.ndarray]
) -> dict[str, float]:
    """Through the runtime API: the share of validation frames, of their capture views, of both,
    and of the out-of-distribution set that the model at ``card_path`` declines."""
    from dermbridge.triage.inference import load_model

    model = load_model(card_path)

    def rate(frames: np.ndarray) -> float:
        return (
            float(np.mean([model.assess_rgb(f).abstained for f in frames])) if len(frames) else 0.0
        )

    ood_frames = np.stack([f for frames in ood.values() for f in frames])
    plain_rate, views_rate = rate(plain), rate(views)
    return {
        "validation": plain_rate,
        "validation_capture_views": views_rate,
        "validation_with_views": (plain_rate * len(plain) + views_rate * len(views))
        / max(1, len(plain) + len(views)),
        "ood_decline": rate(ood_frames),
    }


def _ood_kept(cand: dict[str, float], shipped: dict[str, float]) -> bool:
    """The validation-built out-of-distribution set: at least the target declined, and no more
    than the allowed loss below the shipped model."""
    return (
        cand["ood_decline"] >= SHIP_MIN_OOD_DECLINE
        and cand["ood_decline"] >= shipped["ood_decline"] - SHIP_MAX_OOD_LOSS
    )


def _abstention_verdict(abstention: dict[str, dict[str, float]]) -> bool:
    cand, shipped = abstention["candidate"], abstention["shipped"]
    return cand["validation_with_views"] <= shipped[
        "validation_with_views"
    ] - SHIP_MIN_ABSTENTION_DROP and _ood_kept(cand, shipped)


ABSTENTION_RULE = (
    f"the shipped network with the shipped calibration (same graph, temperature and class "
    f"offsets), refitted: its selection score cannot change, so it replaces the shipped model "
    f"only if it declines at least {SHIP_MIN_ABSTENTION_DROP:.0%} fewer validation images (plain "
    f"and capture views together) while declining at least {SHIP_MIN_OOD_DECLINE:.0%} of the "
    f"out-of-distribution set built from the validation split and no more than "
    f"{SHIP_MAX_OOD_LOSS:.0%} less of it than the shipped model; decided before the test split "
    f"is scored"
)


KIND_ENSEMBLE = "ensemble with the shipped network"
KIND_QUANTIZED = "INT8 copy of the shipped network"

ENSEMBLE_RULE = (
    f"an ensemble with the shipped network among its members replaces the shipped model only if, "
    f"on the same validation images, its selection score is at most "
    f"{SHIP_ENSEMBLE_MAX_SCORE_LOSS} lower, its malignant AUROC at least "
    f"{SHIP_ENSEMBLE_MIN_AUROC_GAIN} higher, its malignant AUROC on the images' capture views at "
    f"most {SHIP_ENSEMBLE_MAX_VIEWS_AUROC_LOSS} lower, it declines at most "
    f"{SHIP_ENSEMBLE_MAX_ABSTENTION_RISE:.0%} more of the images and their views, and at least "
    f"{SHIP_MIN_OOD_DECLINE:.0%} of the validation-built out-of-distribution set, no more than "
    f"{SHIP_MAX_OOD_LOSS:.0%} less than the shipped model (ADR 0018, second amendment); decided "
    f"before the test split is scored"
)


QUANTIZED_RULE = (
    f"an INT8 copy of the shipped model's networks (for latency) replaces the shipped model only "
    f"if, on the same validation images, its selection score is at most "
    f"{SHIP_QUANTIZED_MAX_SCORE_LOSS} lower, its malignant AUROC at most "
    f"{SHIP_QUANTIZED_MAX_AUROC_LOSS} lower, on the images' capture views too, it declines at "
    f"most {SHIP_ENSEMBLE_MAX_ABSTENTION_RISE:.0%} more of the images and their views, and at "
    f"least {SHIP_MIN_OOD_DECLINE:.0%} of the validation-built out-of-distribution set, no more "
    f"than {SHIP_MAX_OOD_LOSS:.0%} less than the shipped model (ADR 0022); decided before the "
    f"test split is scored"
)


# Floating-point slack for the non-inferiority limits (a loss of exactly the limit passes).
_SLACK = 1e-9


def _abstention_kept(compared: dict[str, Any]) -> dict[str, bool]:
    """The abstention checks an ensemble and an INT8 copy share: declines at most the allowed
    rise above the shipped model's, and the out-of-distribution decline kept."""
    cand, shipped = compared["abstention"]["candidate"], compared["abstention"]["shipped"]
    return {
        "declines_kept": cand["validation_with_views"]
        <= shipped["validation_with_views"] + SHIP_ENSEMBLE_MAX_ABSTENTION_RISE,
        "ood_kept": _ood_kept(cand, shipped),
    }


def _quantized_checks(
    candidate_auroc: float,
    shipped_scores: dict[str, float],
    gain: float,
    compared: dict[str, Any],
) -> dict[str, bool]:
    views = compared["views_malignant_auroc"]
    return {
        "selection_score_non_inferior": gain >= -SHIP_QUANTIZED_MAX_SCORE_LOSS - _SLACK,
        "malignant_auroc_non_inferior": candidate_auroc
        >= shipped_scores["validation_malignant_auroc"] - SHIP_QUANTIZED_MAX_AUROC_LOSS - _SLACK,
        "capture_views_auroc_kept": views["candidate"]
        >= views["shipped"] - SHIP_QUANTIZED_MAX_AUROC_LOSS - _SLACK,
        **_abstention_kept(compared),
    }


def _ensemble_checks(
    candidate_auroc: float,
    shipped_scores: dict[str, float],
    gain: float,
    ensemble: dict[str, Any],
) -> dict[str, bool]:
    views = ensemble["views_malignant_auroc"]
    return {
        "selection_score_non_inferior": gain >= -SHIP_ENSEMBLE_MAX_SCORE_LOSS,
        "malignant_auroc_gain": candidate_auroc - shipped_scores["validation_malignant_auroc"]
        >= SHIP_ENSEMBLE_MIN_AUROC_GAIN,
        "capture_views_auroc_kept": views["candidate"]
        >= views["shipped"] - SHIP_ENSEMBLE_MAX_VIEWS_AUROC_LOSS,
        **_abstention_kept(ensemble),
    }


def ship_decision(
    candidate: dict[str, Any],
    shipped_version: str | None,
    shipped_scores: dict[str, float] | None,
    bypass: bool = False,
    abstention: dict[str, dict[str, float]] | None = None,
    ensemble: dict[str, Any] | None = None,
    quantized: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare a fitted candidate with the shipped model on the same validation rows.

    ``abstention`` (:func:`abstention_rates` of the shipped model and the candidate, given only
    when :func:`same_network` holds) judges an abstention-only refit by its own rule.
    ``ensemble`` (given when :func:`keeps_shipped_network` holds: ``abstention`` as above and
    ``views_malignant_auroc`` of both) judges an ensemble containing the shipped network for
    non-inferiority. ``quantized`` (the same, given when :func:`quantized_copy` holds) judges an
    INT8 copy of the shipped networks by ADR 0022's non-inferiority rule.
    ``bypass`` (``--no-ship-gate``) is for reproducing the shipped model itself; the card says so.
    """
    score = validation_score(candidate)
    if shipped_scores is None:
        return {"ships": True, "validation_selection_score": score, "shipped_version": None}
    base = shipped_scores["validation_selection_score"]
    gain = score - base
    if abstention is not None:
        return {
            "ships": bypass or _abstention_verdict(abstention),
            "bypassed": bypass,
            "kind": "abstention refit",
            "validation_selection_score": score,
            "shipped_version": shipped_version,
            "shipped_validation_selection_score": base,
            "gain": gain,
            "abstention": abstention,
            "rule": ABSTENTION_RULE,
        }
    compared, kind, judge, rule = (
        (ensemble, KIND_ENSEMBLE, _ensemble_checks, ENSEMBLE_RULE)
        if ensemble is not None
        else (quantized, KIND_QUANTIZED, _quantized_checks, QUANTIZED_RULE)
    )
    if compared is not None:
        auroc = chosen_validation(candidate, "validation_malignant_auroc")
        checks = judge(auroc, shipped_scores, gain, compared)
        return {
            "ships": bypass or all(checks.values()),
            "bypassed": bypass,
            "kind": kind,
            "validation_selection_score": score,
            "validation_malignant_auroc": auroc,
            "shipped_version": shipped_version,
            "shipped_validation": shipped_scores,
            "shipped_validation_selection_score": base,
            "gain": gain,
            "checks": checks,
            **compared,
            "rule": rule,
        }
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
    if decision.get("kind") == "abstention refit":
        cand, shipped = decision["abstention"]["candidate"], decision["abstention"]["shipped"]
        return (
            f"Abstention refit of {decision['shipped_version']}'s network {verb}{how}: declines "
            f"{cand['validation_with_views']:.1%} of validation images and their capture views "
            f"vs {shipped['validation_with_views']:.1%} (at least {SHIP_MIN_ABSTENTION_DROP:.0%} "
            f"fewer needed), and {cand['ood_decline']:.1%} of the validation-built "
            f"out-of-distribution set vs {shipped['ood_decline']:.1%} (at least "
            f"{SHIP_MIN_OOD_DECLINE:.0%} needed)."
        )
    if decision.get("kind") in (KIND_ENSEMBLE, KIND_QUANTIZED):
        views = decision["views_malignant_auroc"]
        cand, shipped = decision["abstention"]["candidate"], decision["abstention"]["shipped"]
        failed = [name for name, ok in decision["checks"].items() if not ok]
        ensemble = decision["kind"] == KIND_ENSEMBLE
        what = "Ensemble with" if ensemble else "INT8 copy of"
        score_loss = SHIP_ENSEMBLE_MAX_SCORE_LOSS if ensemble else SHIP_QUANTIZED_MAX_SCORE_LOSS
        auroc_rule = (
            f"at least +{SHIP_ENSEMBLE_MIN_AUROC_GAIN} needed"
            if ensemble
            else f"at most {SHIP_QUANTIZED_MAX_AUROC_LOSS} lower allowed"
        )
        return (
            f"{what} {decision['shipped_version']}'s network {verb}{how}: validation "
            f"selection score {decision['validation_selection_score']:.3f} vs "
            f"{decision['shipped_validation_selection_score']:.3f} ({decision['gain']:+.3f}; at "
            f"most {score_loss} lower allowed), malignant AUROC "
            f"{decision['validation_malignant_auroc']:.3f} vs "
            f"{decision['shipped_validation']['validation_malignant_auroc']:.3f} ({auroc_rule}), "
            f"on capture views {views['candidate']:.3f} "
            f"vs {views['shipped']:.3f}; declines {cand['validation_with_views']:.1%} of "
            f"validation images and their views vs {shipped['validation_with_views']:.1%}, "
            f"{cand['ood_decline']:.1%} of the out-of-distribution set vs "
            f"{shipped['ood_decline']:.1%}" + (f"; failed: {', '.join(failed)}." if failed else ".")
        )
    return (
        f"Candidate {verb}{how}: validation selection score {decision['validation_selection_score']:.3f} "
        f"vs {decision['shipped_validation_selection_score']:.3f} for the shipped "
        f"{decision['shipped_version']} ({decision['gain']:+.3f}; at least "
        f"{decision['min_gain']:+.3f} needed)."
    )


def promote(staging: Path, models_dir: Path, card: dict[str, Any]) -> None:
    """Copy a candidate's graph (or, for an ensemble shipped as its members, each member's
    graph) and detector arrays from ``staging`` into ``models_dir`` and write its card there. A
    file already shipped with the same sha256 (a refit of a shipped graph, an ensemble member
    that is a shipped network, or detectors identical to an earlier card's) is shared rather
    than copied again."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for member in card.get("members") or []:
        member["file"] = _ship_file(staging, models_dir, card, member["file"], member["sha256"])
    files = [("ood_file", "ood_sha256")]
    if not card.get("members"):
        files.insert(0, ("model_file", "sha256"))
    for name_key, sha_key in files:
        card[name_key] = _ship_file(staging, models_dir, card, card[name_key], card[sha_key])
    write_card(models_dir, card)


def _ship_file(staging: Path, models_dir: Path, card: dict[str, Any], name: str, sha: str) -> str:
    """The name ``staging/name`` ships under in ``models_dir``: a shipped file with the same
    sha256, or the file copied there (refusing to overwrite another card's file)."""
    source = staging / name
    same = next(
        (p for p in sorted(models_dir.glob(f"*{source.suffix}")) if sha256_file(p) == sha), None
    )
    if same is not None:
        return same.name
    target = models_dir / source.name
    for other in sorted(models_dir.glob("*.json")):
        named = json.loads(other.read_text())
        shipped = {named.get("model_file"), named.get("ood_file")} | {
            m.get("file") for m in named.get("members") or []
        }
        if named.get("version") != card["version"] and target.name in shipped:
            raise FileExistsError(
                f"{target} belongs to {named.get('version')}'s card and differs from the "
                f"candidate's: give the candidate a new VERSION (pipeline_settings.py)"
            )
    shutil.copyfile(source, target)
    return target.name
