"""Score the shipped triage model on labelled dermoscopic images (no torch, no database).

Used by ``dermbridge triage-eval`` and by the training pipeline's model-card report, so the
numbers in the card are produced by the same code a user can rerun. Labels are used only for
scoring; the model sees pixels only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from dermbridge.triage import metrics
from dermbridge.triage.dataset import Record
from dermbridge.triage.inference import Assessment, TriageModel
from dermbridge.triage.labels import CLASSES, MALIGNANT
from dermbridge.triage.metadata import LesionMetadata


@dataclass
class Scored:
    """Model outputs for a set of labelled images (abstained rows have no probabilities)."""

    records: list[Record]
    assessments: list[Assessment]
    latencies_ms: list[float]


def assess_images(
    model: TriageModel,
    records: Sequence[Record],
    images_dir: Path,
    progress: bool = True,
    use_metadata: bool = True,
) -> Scored:
    """Run the model on ``images_dir/<image_id>.jpg`` one image at a time, timing each call.

    With ``use_metadata`` the record's age, sex and site are handed to the model (used by models
    with a metadata fusion); without, the model sees the image alone.
    """
    assessments, latencies = [], []
    for rec in tqdm(records, desc="assess", disable=not progress, mininterval=5):
        meta = (
            LesionMetadata(age=rec.age, sex=rec.sex, site=rec.localization)
            if use_metadata
            else None
        )
        with Image.open(images_dir / f"{rec.image_id}.jpg") as img:
            img.load()
            t0 = time.perf_counter()
            assessments.append(model.assess(img, meta))
            latencies.append((time.perf_counter() - t0) * 1000.0)
    return Scored(list(records), assessments, latencies)


def _ci_metrics(
    labels: np.ndarray,
    probs: np.ndarray,
    threshold: float,
    bands: np.ndarray | None = None,
) -> dict[str, Callable[[np.ndarray], float]]:
    """Each headline metric as a function of row indices (so it can be bootstrapped).

    "Possibly malignant" is the shipped operating point: any band but low when ``bands`` are
    given (the worst-plausible-class rule can flag a lesion whose summed probability is below
    the rule-out threshold), else malignancy probability >= ``threshold``.
    """
    mal_idx = [CLASSES.index(c) for c in MALIGNANT]
    p_mal = probs[:, mal_idx].sum(axis=1)
    is_mal = np.isin(labels, mal_idx)
    is_mel = labels == CLASSES.index("mel")
    pred = probs.argmax(axis=1)
    flagged = bands != "low" if bands is not None else p_mal >= threshold
    urgent = bands == "high" if bands is not None else np.zeros(len(labels), dtype=bool)
    k = len(CLASSES)

    def mel_sens(r: np.ndarray) -> float:
        m = is_mel[r]
        return float(flagged[r][m].mean()) if m.any() else float("nan")

    def mel_high(r: np.ndarray) -> float:
        m = is_mel[r]
        return float(urgent[r][m].mean()) if m.any() else float("nan")

    def sens(r: np.ndarray) -> float:
        m = is_mal[r]
        return float(flagged[r][m].mean()) if m.any() else float("nan")

    def spec(r: np.ndarray) -> float:
        b = ~is_mal[r]
        return float((~flagged[r][b]).mean()) if b.any() else float("nan")

    return {
        "accuracy": lambda r: float((pred[r] == labels[r]).mean()),
        "balanced_accuracy": lambda r: metrics.balanced_accuracy(labels[r], pred[r], k),
        "macro_auroc": lambda r: metrics.macro_auroc(labels[r], probs[r]),
        "malignant_auroc": lambda r: metrics.auroc(is_mal[r], p_mal[r]),
        "sensitivity": sens,
        "specificity": spec,
        "ece": lambda r: metrics.ece(labels[r], probs[r]),
        "melanoma_sensitivity": mel_sens,
        "melanoma_high_band": mel_high,
    }


def summarise(
    scored: Scored, threshold: float, model_version: str, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Headline metrics with lesion-resampled 95% bootstrap intervals, over non-abstained images.

    Malignant = mel, bcc, akiec; "sensitivity"/"specificity" are at the shipped rule-out
    threshold (malignancy probability >= threshold counts as "possibly malignant").
    """
    kept = [i for i, a in enumerate(scored.assessments) if not a.abstained]
    recs = [scored.records[i] for i in kept]
    labels = np.array([r.label for r in recs], dtype=np.int64)
    probs = np.array(
        [[scored.assessments[i].probabilities[c] for c in CLASSES] for i in kept], dtype=np.float64
    ).reshape(len(kept), len(CLASSES))
    groups = [r.lesion_id for r in recs]
    out: dict[str, Any] = {
        "model_version": model_version,
        "n": len(scored.records),
        "abstained": len(scored.records) - len(kept),
        "abstention_rate": (len(scored.records) - len(kept)) / max(1, len(scored.records)),
        "n_assessed": len(kept),
        "lesions_assessed": len(set(groups)),
        "threshold": threshold,
    }
    all_rows = np.arange(len(kept))
    bands = np.array([scored.assessments[i].band for i in kept], dtype=object)
    for name, fn in _ci_metrics(labels, probs, threshold, bands).items():
        if len(kept) == 0:
            out[name], out[f"{name}_ci"] = float("nan"), [float("nan"), float("nan")]
            continue
        out[name] = fn(all_rows)
        out[f"{name}_ci"] = list(metrics.bootstrap_ci(groups, fn, n_boot=n_boot, seed=seed))
    pred = probs.argmax(axis=1) if len(kept) else np.zeros(0, dtype=np.int64)
    recall = metrics.per_class_recall(labels, pred, len(CLASSES))
    out["per_class_recall"] = {
        c: (None if np.isnan(v) else float(v)) for c, v in zip(CLASSES, recall, strict=True)
    }
    out["per_class_n"] = {c: int((labels == i).sum()) for i, c in enumerate(CLASSES)}
    confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    out["confusion_matrix"] = {"rows_true_cols_pred": list(CLASSES), "counts": confusion.tolist()}
    out["band_counts"] = {b: int((bands == b).sum()) for b in ("high", "intermediate", "low")}
    lat = np.array(scored.latencies_ms) if scored.latencies_ms else np.array([np.nan])
    out["latency_ms_p50"] = float(np.median(lat))
    out["latency_ms_p95"] = float(np.quantile(lat, 0.95))
    return out


def age_band(age: float | None) -> str:
    if age is None:
        return "unknown"
    if age < 30:
        return "<30"
    if age < 50:
        return "30-49"
    if age < 70:
        return "50-69"
    return "70+"


def subgroups(
    scored: Scored, threshold: float, model_version: str, n_boot: int = 200
) -> dict[str, dict[str, dict[str, Any]]]:
    """Headline metrics per sex, age band and body site (sites with < 30 images are pooled)."""
    keys: dict[str, Callable[[Record], str]] = {
        "sex": lambda r: r.sex,
        "age_band": lambda r: age_band(r.age),
        "body_site": lambda r: r.localization,
    }
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for facet, key in keys.items():
        values = [key(r) for r in scored.records]
        counts = {v: values.count(v) for v in set(values)}
        if facet == "body_site":
            values = [v if counts[v] >= 30 else "other (<30 images each)" for v in values]
        out[facet] = {}
        for value in sorted(set(values)):
            idx = [i for i, v in enumerate(values) if v == value]
            sub = Scored(
                [scored.records[i] for i in idx],
                [scored.assessments[i] for i in idx],
                [],
            )
            s = summarise(sub, threshold, model_version, n_boot=n_boot)
            out[facet][value] = {
                k: s[k]
                for k in (
                    "n",
                    "abstained",
                    "accuracy",
                    "balanced_accuracy",
                    "malignant_auroc",
                    "malignant_auroc_ci",
                    "sensitivity",
                    "sensitivity_ci",
                    "specificity",
                    "specificity_ci",
                )
            }
            out[facet][value]["malignant_n"] = sum(s["per_class_n"][c] for c in MALIGNANT)
    return out
