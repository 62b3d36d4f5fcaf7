"""Fit and compare two ways of fusing age, sex and body site with the image (no CNN retraining).

* ``posthoc_logistic``: a multinomial logistic regression on [calibrated image log-probabilities,
  metadata] fitted on the calibration split (the CNN never saw it), with random field dropout;
* ``metadata_branch``: a metadata-only logistic model fitted on the training split (with random
  field dropout), added to the image's log-probabilities as a likelihood ratio against the class
  prior, its weight and a class bias fitted on the calibration split.

Both reduce to :class:`dermbridge.triage.metadata.Fusion`; they are compared on the validation
split with all fields, and with none (metadata missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize

from dermbridge.triage import metrics
from dermbridge.triage.dataset import Record
from dermbridge.triage.labels import MALIGNANT_INDICES
from dermbridge.triage.metadata import FEATURES, Fusion, LesionMetadata, encode

DROP_PROBABILITY = 0.3
COPIES = 4
L2 = 1e-3


def record_metadata(rec: Record) -> LesionMetadata:
    return LesionMetadata(age=rec.age, sex=rec.sex, site=rec.localization)


def with_dropout(
    metas: Sequence[LesionMetadata], rng: np.random.Generator, copies: int = COPIES
) -> tuple[np.ndarray, np.ndarray]:
    """Metadata vectors for ``copies`` versions of each row, each field dropped with probability
    :data:`DROP_PROBABILITY`; plus one copy with everything dropped. Returns (rows, index)."""
    rows, index = [], []
    for i, m in enumerate(metas):
        rows.append(encode(m))
        index.append(i)
        rows.append(encode(None))
        index.append(i)
        for _ in range(copies - 1):
            drop = rng.random(3) < DROP_PROBABILITY
            rows.append(
                encode(
                    LesionMetadata(
                        age=None if drop[0] else m.age,
                        sex=None if drop[1] else m.sex,
                        site=None if drop[2] else m.site,
                    )
                )
            )
            index.append(i)
    return np.stack(rows), np.array(index)


def _fit_softmax(
    design: np.ndarray, labels: np.ndarray, n_classes: int, offset: np.ndarray | None = None
) -> np.ndarray:
    """Multinomial logistic regression (L2), returns weights (n_classes x columns)."""
    n, k = design.shape
    off = np.zeros((n, n_classes)) if offset is None else offset
    onehot = np.eye(n_classes)[labels]

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(n_classes, k)
        z = design @ w.T + off
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        p = np.exp(logp)
        value = -(onehot * logp).sum() / n + L2 * (w**2).sum()
        grad = (p - onehot).T @ design / n + 2 * L2 * w
        return float(value), grad.ravel()

    res = minimize(loss, np.zeros(n_classes * k), jac=True, method="L-BFGS-B")
    return np.asarray(res.x).reshape(n_classes, k)


def fit_posthoc(
    log_probs: np.ndarray, labels: np.ndarray, metas: Sequence[LesionMetadata], seed: int = 0
) -> Fusion:
    """[image log-probabilities as one scalar-weighted block, metadata, 1] -> classes."""
    rng = np.random.default_rng(seed)
    meta, idx = with_dropout(metas, rng)
    n_classes = log_probs.shape[1]
    # The image enters with one shared weight a: fit a by a 1-d search, the rest by regression.
    best: tuple[float, Fusion] | None = None
    design = np.column_stack([meta, np.ones(len(meta))])
    for a in np.linspace(0.6, 1.4, 9):
        w = _fit_softmax(design, labels[idx], n_classes, offset=a * log_probs[idx])
        fusion = Fusion(a, w[:, :-1], w[:, -1])
        nll = _nll(fusion, log_probs[idx], meta, labels[idx])
        if best is None or nll < best[0]:
            best = (nll, fusion)
    assert best is not None
    return best[1]


def fit_branch(
    train_metas: Sequence[LesionMetadata],
    train_labels: np.ndarray,
    log_probs: np.ndarray,
    labels: np.ndarray,
    metas: Sequence[LesionMetadata],
    seed: int = 0,
) -> Fusion:
    """Metadata-only model on the training split; its weight and a class bias on calibration."""
    rng = np.random.default_rng(seed)
    n_classes = log_probs.shape[1]
    tmeta, tidx = with_dropout(train_metas, rng)
    w = _fit_softmax(np.column_stack([tmeta, np.ones(len(tmeta))]), train_labels[tidx], n_classes)
    prior = np.log(np.bincount(train_labels, minlength=n_classes) / len(train_labels))
    branch_w, branch_b = w[:, :-1], w[:, -1] - prior
    cmeta, cidx = with_dropout(metas, rng)
    best: tuple[float, Fusion] | None = None
    for lam in np.linspace(0.0, 1.5, 16):
        offset = log_probs[cidx] + lam * (cmeta @ branch_w.T + branch_b)
        bias = _fit_softmax(np.ones((len(cidx), 1)), labels[cidx], n_classes, offset)[:, 0]
        fusion = Fusion(1.0, lam * branch_w, lam * branch_b + bias)
        nll = _nll(fusion, log_probs[cidx], cmeta, labels[cidx])
        if best is None or nll < best[0]:
            best = (nll, fusion)
    assert best is not None
    return best[1]


def _nll(fusion: Fusion, log_probs: np.ndarray, meta: np.ndarray, labels: np.ndarray) -> float:
    p = metrics.softmax(fusion.logits(log_probs, meta))
    return float(-np.log(p[np.arange(len(labels)), labels] + 1e-12).mean())


def scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    is_mal = np.isin(labels, MALIGNANT_INDICES)
    p_mal = probs[:, list(MALIGNANT_INDICES)].sum(axis=1)
    return {
        "nll": float(-np.log(probs[np.arange(len(labels)), labels] + 1e-12).mean()),
        "accuracy": float((probs.argmax(1) == labels).mean()),
        "balanced_accuracy": metrics.balanced_accuracy(labels, probs.argmax(1), probs.shape[1]),
        "malignant_auroc": metrics.auroc(is_mal, p_mal),
        "ece": metrics.ece(labels, probs),
    }


def compare(
    train: tuple[Sequence[Record], np.ndarray],
    calibration: tuple[Sequence[Record], np.ndarray, np.ndarray],
    validation: tuple[Sequence[Record], np.ndarray, np.ndarray],
) -> tuple[dict[str, Any], dict[str, Fusion]]:
    """Fit both methods; validation scores with all metadata, with none, and image-only.

    ``calibration``/``validation``: (records, calibrated image log-probabilities, labels).
    """
    train_recs, train_y = train
    cal_recs, cal_lp, cal_y = calibration
    val_recs, val_lp, val_y = validation
    cal_meta = [record_metadata(r) for r in cal_recs]
    val_meta = [record_metadata(r) for r in val_recs]
    fusions = {
        "posthoc_logistic": fit_posthoc(cal_lp, cal_y, cal_meta),
        "metadata_branch": fit_branch(
            [record_metadata(r) for r in train_recs], train_y, cal_lp, cal_y, cal_meta
        ),
    }
    full = np.stack([encode(m) for m in val_meta])
    none = np.zeros_like(full)
    table: dict[str, Any] = {"image_only": scores(np.exp(val_lp), val_y)}
    for name, fusion in fusions.items():
        table[name] = {
            "with_metadata": scores(metrics.softmax(fusion.logits(val_lp, full)), val_y),
            "without_metadata": scores(metrics.softmax(fusion.logits(val_lp, none)), val_y),
            "image_weight": fusion.image_weight,
        }
    return table, fusions


def fusion_card(fusion: Fusion, method: str) -> dict[str, Any]:
    return {
        "method": method,
        "features": list(FEATURES),
        "image_weight": fusion.image_weight,
        "weights": fusion.weights.round(6).tolist(),
        "bias": fusion.bias.round(6).tolist(),
    }
