"""Test-split evaluation, plots (docs/img/) and the generated model card (docs/model-card.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermbridge.triage import metrics
from dermbridge.triage.dataset import Record
from dermbridge.triage.evaluation import Scored, assess_images, subgroups, summarise
from dermbridge.triage.inference import load_model
from dermbridge.triage.labels import CLASSES, MALIGNANT_INDICES
from dermbridge.triage.training.card_text import render


def evaluate(
    card_path: Path, records: Sequence[Record], images_dir: Path, n_boot: int, img_dir: Path
) -> dict[str, Any]:
    """Evaluate the shipped model on the test split via the runtime API, and draw the plots."""
    model = load_model(card_path, threads=1)
    scored = assess_images(model, records, images_dir)
    summary = summarise(scored, model.rule_out, model.version, n_boot=n_boot)
    summary["subgroups"] = subgroups(scored, model.rule_out, model.version)
    labels, probs = _kept(scored)
    # Undo the calibration map to report how much it helped on the test split.
    raw = metrics.softmax(
        (np.log(np.clip(probs, 1e-12, 1.0)) - model.class_bias) * model.temperature
    )
    summary["ece_before_temperature"] = metrics.ece(labels, raw)
    _plots(labels, probs, model.rule_out, img_dir)
    return summary


def _kept(scored: Scored) -> tuple[np.ndarray, np.ndarray]:
    keep = [i for i, a in enumerate(scored.assessments) if not a.abstained]
    labels = np.array([scored.records[i].label for i in keep])
    probs = np.array([[scored.assessments[i].probabilities[c] for c in CLASSES] for i in keep])
    return labels, probs


def _plots(labels: np.ndarray, probs: np.ndarray, threshold: float, img_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    pred = probs.argmax(axis=1)
    cm = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(cm, (labels, pred), 1)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(CLASSES)):
        for j in range(len(CLASSES)):
            ax.text(
                j,
                i,
                f"{cm[i, j]}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(len(CLASSES)), CLASSES)
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (histopathology / follow-up / consensus)")
    ax.set_title("Test split confusion matrix (counts; colour = row share)")
    fig.tight_layout()
    fig.savefig(img_dir / "triage-confusion.png", dpi=110)
    plt.close(fig)

    is_mal = np.isin(labels, MALIGNANT_INDICES)
    p_mal = probs[:, list(MALIGNANT_INDICES)].sum(axis=1)
    fpr, tpr = metrics.roc_curve(is_mal, p_mal)
    sens = float((p_mal[is_mal] >= threshold).mean())
    spec = float((p_mal[~is_mal] < threshold).mean())
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot(fpr, tpr, label=f"AUROC {metrics.auroc(is_mal, p_mal):.3f}")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.scatter(
        [1 - spec],
        [sens],
        c="red",
        zorder=3,
        label=f"rule-out threshold: sens {sens:.2f}, spec {spec:.2f}",
    )
    ax.scatter([0.29], [0.97], marker="x", c="black", label="DERM 2022 (any cancer)")
    ax.set_xlabel("1 - specificity (benign)")
    ax.set_ylabel("sensitivity (mel, bcc, akiec)")
    ax.set_title("Malignant vs benign, test split")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(img_dir / "triage-roc.png", dpi=110)
    plt.close(fig)

    conf, acc, counts = metrics.reliability(labels, probs)
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    centres = (np.arange(10) + 0.5) / 10
    ax.bar(
        centres,
        np.where(counts > 0, acc, 0),
        width=0.1,
        edgecolor="k",
        alpha=0.6,
        label="accuracy in bin",
    )
    ax.plot([0, 1], [0, 1], ls=":", c="grey", label="perfect calibration")
    ax.plot(conf[counts > 0], acc[counts > 0], "o-", c="red", label="mean confidence vs accuracy")
    ax.set_xlabel("top-class confidence (after temperature scaling)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability, test split (ECE {metrics.ece(labels, probs):.3f})")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(img_dir / "triage-reliability.png", dpi=110)
    plt.close(fig)


def write_model_card(card: dict[str, Any], docs_dir: Path) -> Path:
    out = docs_dir / "model-card.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(card))
    return out
