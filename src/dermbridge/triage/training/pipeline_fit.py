"""Refit on the exported graph: calibration, logit adjustment, fusion, band thresholds and abstention detectors."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from dermbridge.triage import calibration, metrics
from dermbridge.triage.inference import sha256_file
from dermbridge.triage.labels import CLASSES, MALIGNANT, MALIGNANT_INDICES
from dermbridge.triage.preprocessing import (
    PIXEL_MEAN,
    PIXEL_STD,
    GateThresholds,
    colour_features,
    quality_gate,
)
from dermbridge.triage.training import fusion, logit_adjust, rules
from dermbridge.triage.training.data import (
    Record,
)
from dermbridge.triage.training.ensemble_graph import stage_members
from dermbridge.triage.training.pipeline_graph import run_graph, white_balanced
from dermbridge.triage.training.pipeline_report import write_card
from dermbridge.triage.training.pipeline_settings import (
    CALIBRATION_MAX_AUROC_LOSS,
    CALIBRATION_MAX_ECE,
    CALIBRATION_MIN_SCORE_GAIN,
    COLOUR_QUANTILE,
    COLOUR_WHITE_BALANCE,
    FUSION_MIN_AUROC_GAIN,
    HIGH_BAND_SPECIFICITY,
    MAHALANOBIS_QUANTILE,
    MAHALANOBIS_SHRINKAGE,
    RULE_OUT_LOWER_BOUND,
    TOP_PROBABILITY_QUANTILE,
    VERSION,
)

CAPTURE_VIEWS_TEXT = (
    "one phone-dermatoscope capture view per training and calibration image "
    "(triage.captures.capture_view: zoom 0.8/1.0/1.2, any rotation, white balance +-12%, "
    "soft-edged round field of view framed as the upload pipeline frames it; seeded per split); "
    "the feature and colour Gaussians are fitted on training frames and their views, and each "
    "threshold is its quantile over calibration frames and their views (ADR 0019)"
)
CALIBRATIONS = ("temperature", "temperature_and_class_bias", "temperature_and_logit_adjustment")


def choose_calibration(
    candidates: dict[str, dict[str, float]], calibration_ece: dict[str, float]
) -> str:
    """The calibration to ship, judged on the validation split.

    Every candidate is fitted on the calibration split. Those whose ECE there meets issue 15's
    target (at most ``CALIBRATION_MAX_ECE``) are eligible; taken in ``CALIBRATIONS`` order
    (simplest first), a later one replaces the current choice only if its validation selection
    score (mean of balanced accuracy and malignant AUROC, the experiments' score) is at least
    ``CALIBRATION_MIN_SCORE_GAIN`` higher and its malignant AUROC at most
    ``CALIBRATION_MAX_AUROC_LOSS`` lower. When none meets the ECE target, the lowest
    calibration-split ECE wins.
    """
    names = [n for n in CALIBRATIONS if n in candidates]
    eligible = [n for n in names if calibration_ece[n] <= CALIBRATION_MAX_ECE]
    if not eligible:
        return min(names, key=lambda n: calibration_ece[n])
    chosen = eligible[0]
    for name in eligible[1:]:
        current, other = candidates[chosen], candidates[name]
        if (
            other["validation_selection_score"]
            >= current["validation_selection_score"] + CALIBRATION_MIN_SCORE_GAIN
            and other["validation_malignant_auroc"]
            >= current["validation_malignant_auroc"] - CALIBRATION_MAX_AUROC_LOSS
        ):
            chosen = name
    return chosen


CALIBRATION_RULE = (
    f"each candidate fitted on the calibration split; eligible if its ECE there is at most "
    f"{CALIBRATION_MAX_ECE} (issue 15's target); from the simplest (temperature, then with a "
    f"class bias, then with the logit adjustment), a later candidate replaces the choice if its "
    f"validation selection score (mean of balanced accuracy and malignant AUROC) is at least "
    f"{CALIBRATION_MIN_SCORE_GAIN} higher and its malignant AUROC at most "
    f"{CALIBRATION_MAX_AUROC_LOSS} lower"
)


def fit_artifacts(
    onnx_path: Path,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    out_dir: Path,
    extra_card: dict[str, Any],
    records: dict[str, list[Record]] | None = None,
    cache_dir: Path | None = None,
    views: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Fit calibration and abstention on the exported graph and write the shipped files.

    ``records`` (the splits' metadata rows, in the arrays' order) enable the metadata-fusion
    comparison; without them (smoke runs) it is skipped. ``views`` ("train" and "calibration":
    one phone-dermatoscope capture view per image, ``data.load_capture_views``) widen what the
    abstention detectors take for dermoscopy to the captures the service will be sent
    (ADR 0019); without them the detectors are fitted on the plain frames alone, as before
    triage-v3.2.
    """
    gate = GateThresholds()
    # The network's input size is the frames' (160x120 for triage-v2's graph).
    height, width = arrays["train"][0].shape[1:3]
    outputs = {
        name: run_graph(onnx_path, arrays[name][0], cache_dir=cache_dir)
        for name in ("train", "validation", "calibration")
    }
    train_feats = outputs["train"][1]
    y_train = arrays["train"][1]
    x_cal, y_cal = arrays["calibration"]
    cal_logits, cal_feats = outputs["calibration"]
    # Capture views: the same images as a phone with a clip-on dermatoscope sends them, framed
    # by the upload pipeline. The detectors' Gaussians are fitted on plain frames and views,
    # and each threshold is the same quantile of calibration frames and their views.
    no_views = np.zeros((0, *x_cal.shape[1:]), dtype=np.uint8)
    train_views = views["train"] if views else no_views
    cal_views = views["calibration"] if views else no_views
    train_view_feats = run_graph(onnx_path, train_views, cache_dir=cache_dir)[1] if views else None
    cal_view_logits, cal_view_feats = (
        run_graph(onnx_path, cal_views, cache_dir=cache_dir) if views else (None, None)
    )
    if train_view_feats is not None:
        fit_feats = np.concatenate([train_feats, train_view_feats])
        fit_labels = np.concatenate([y_train, y_train])
    else:
        fit_feats, fit_labels = train_feats, y_train
    means, whitening = calibration.fit_mahalanobis(
        fit_feats, fit_labels, len(CLASSES), shrinkage=MAHALANOBIS_SHRINKAGE
    )
    probe = calibration.MahalanobisDetector(means, whitening, threshold=np.inf)
    cal_dist = probe.distances(cal_feats)
    cal_view_dist = probe.distances(cal_view_feats) if cal_view_feats is not None else np.zeros(0)
    maha_threshold = float(
        np.quantile(np.concatenate([cal_dist, cal_view_dist]), MAHALANOBIS_QUANTILE)
    )
    gate_ok = np.array([quality_gate(f, gate) is None for f in x_cal])
    # Colour/texture statistics: one Gaussian over training images, each also with a random
    # white balance (channel gains within +-COLOUR_WHITE_BALANCE): dermatoscopes and phones
    # differ in white balance, and that alone must not make a lesion "unlike dermoscopy".
    wb_rng = np.random.default_rng(0)
    train_colour = np.concatenate(
        [
            _colour_stats(arrays["train"][0]),
            _colour_stats(white_balanced(arrays["train"][0], wb_rng)),
            _colour_stats(train_views),
        ]
    )
    colour_means, colour_whitening = calibration.fit_mahalanobis(
        train_colour, np.zeros(len(train_colour), dtype=np.int64), 1, shrinkage=0.01
    )
    colour_probe = calibration.MahalanobisDetector(colour_means, colour_whitening, np.inf)
    cal_colour = colour_probe.distances(_colour_stats(x_cal))
    cal_colour_wb = colour_probe.distances(_colour_stats(white_balanced(x_cal, wb_rng)))
    cal_colour_views = colour_probe.distances(_colour_stats(cal_views))
    colour_threshold = float(
        np.quantile(np.concatenate([cal_colour, cal_colour_wb, cal_colour_views]), COLOUR_QUANTILE)
    )
    kept = gate_ok & (cal_dist <= maha_threshold) & (cal_colour <= colour_threshold)

    # Three calibrations, each fitted on the calibration split: plain temperature scaling,
    # with a per-class bias (undoes the prior shift of a class-weighted loss), and after a
    # post-hoc logit adjustment (tau on the validation split, the temperature refitted on the
    # calibration split with the adjustment fixed: logit_adjust.py). choose_calibration picks
    # one on the validation split, which none was fitted on.
    val_logits, y_val = outputs["validation"][0], arrays["validation"][1]
    prior = logit_adjust.train_prior(y_train)
    la_rows = logit_adjust.sweep(cal_logits, y_cal, val_logits, y_val, prior)
    la_best = logit_adjust.choose(la_rows, max_calibration_ece=CALIBRATION_MAX_ECE)
    t_bias, class_bias = calibration.fit_temperature_and_bias(cal_logits, y_cal)
    fitted = {
        "temperature": (calibration.fit_temperature(cal_logits, y_cal), np.zeros(len(CLASSES))),
        "temperature_and_class_bias": (t_bias, class_bias),
        "temperature_and_logit_adjustment": (
            la_best["temperature"],
            logit_adjust.adjustment(prior, la_best["tau"]),
        ),
    }
    choice = {name: _scores(val_logits, y_val, t, b) for name, (t, b) in fitted.items()}
    cal_eces = {
        name: metrics.ece(y_cal, metrics.softmax(cal_logits / t + b))
        for name, (t, b) in fitted.items()
    }
    for name, e in cal_eces.items():
        choice[name]["calibration_split_ece"] = e
    chosen = choose_calibration(choice, cal_eces)
    temperature, bias = fitted[chosen]
    use_la = chosen == "temperature_and_logit_adjustment"
    la_cal_ece = cal_eces["temperature_and_logit_adjustment"]
    la_card: dict[str, Any] = {
        "method": "softmax(z / T - tau * log(prior)), Menon et al. 2021 section 4; tau chosen on "
        "the validation split (highest mean of balanced accuracy and malignant AUROC) among the "
        f"taus whose calibration-split ECE is at most {CALIBRATION_MAX_ECE}, T refitted on the "
        "calibration split with the adjustment fixed",
        "prior": [float(v) for v in prior],
        "tau": la_best["tau"],
        "calibration_split_ece": la_cal_ece,
        "sweep_on_validation": la_rows,
        "rule": CALIBRATION_RULE,
        "shipped": use_la,
    }
    if records is not None:
        base = next(r for r in la_rows if r["tau"] == 0.0)
        la_card["paired_difference_on_validation"] = logit_adjust.paired_difference(
            val_logits, y_val, [r.lesion_id for r in records["validation"]], prior, base, la_best
        )
    cal_probs_all = metrics.softmax(cal_logits / temperature + bias)
    cal_top = cal_probs_all.max(axis=1)
    view_top = (
        metrics.softmax(cal_view_logits / temperature + bias).max(axis=1)
        if cal_view_logits is not None
        else np.zeros(0)
    )
    min_top = float(np.quantile(np.concatenate([cal_top, view_top]), TOP_PROBABILITY_QUANTILE))
    kept &= cal_top >= min_top
    views_kept = (
        np.array([quality_gate(f, gate) is None for f in cal_views], dtype=bool)
        & (cal_view_dist <= maha_threshold)
        & (cal_colour_views <= colour_threshold)
        & (view_top >= min_top)
    )
    val_probs = metrics.softmax(val_logits / temperature + bias)
    # Worst-plausible-class thresholds, chosen on the validation split.
    class_thresholds = rules.choose_class_thresholds(val_probs, y_val)
    fusion_table: dict[str, Any] | None = None
    if records is not None:
        log_cal = np.log(np.clip(cal_probs_all, 1e-12, 1.0))
        log_val = np.log(np.clip(val_probs, 1e-12, 1.0))
        fusion_table, _fusions = fusion.compare(
            (records["train"], y_train),
            (records["calibration"], log_cal, y_cal),
            (records["validation"], log_val, y_val),
        )
        base = fusion_table["image_only"]
        wins = [
            name
            for name in ("posthoc_logistic", "metadata_branch")
            if fusion_table[name]["with_metadata"]["malignant_auroc"]
            >= base["malignant_auroc"] + FUSION_MIN_AUROC_GAIN
            and fusion_table[name]["with_metadata"]["balanced_accuracy"]
            >= base["balanced_accuracy"]
        ]
        fusion_table["shipped"] = wins[0] if wins else None
        fusion_table["rule"] = (
            f"ship a fusion only if its validation malignant AUROC with metadata is at least "
            f"{FUSION_MIN_AUROC_GAIN} above the image alone and its balanced accuracy is not lower"
        )
    probs = metrics.softmax(cal_logits[kept] / temperature + bias)
    p_mal = probs[:, list(MALIGNANT_INDICES)].sum(axis=1)
    is_mal = np.isin(y_cal[kept], MALIGNANT_INDICES)
    try:
        threshold, caught, n_mal, lower = metrics.rule_out_threshold(
            is_mal, p_mal, RULE_OUT_LOWER_BOUND
        )
        attained = True
    except ValueError:  # too few malignant cases (smoke runs): catch them all, say so
        threshold, n_mal = float(p_mal[is_mal].min()), int(is_mal.sum())
        caught, lower, attained = n_mal, metrics.clopper_pearson(n_mal, n_mal)[0], False
    high = max(threshold, calibration.high_band_cutoff(p_mal[~is_mal], HIGH_BAND_SPECIFICITY))
    cal_ops = rules.band_metrics(probs, y_cal[kept], class_thresholds, threshold, high)
    prevalence = float(is_mal.mean())
    monitoring = {
        "source": "calibration split, images the model assessed (as shipped)",
        "abstention_rate": float(1.0 - kept.mean()),
        "malignant_probability_mean": float(p_mal.mean()),
        "malignant_probability_sd": float(p_mal.std()),
        "high_band_rate": prevalence * cal_ops["malignant_high_band"]
        + (1 - prevalence) * cal_ops["benign_high_band"],
        # AI "possibly malignant" (not low) agreeing with the reference diagnosis.
        "agreement_rate": prevalence * cal_ops["sensitivity"]
        + (1 - prevalence) * cal_ops["specificity"],
    }
    band_rules = {
        "summed_probability (triage-v2)": rules.band_metrics(
            val_probs, y_val, None, threshold, high
        ),
        "worst_plausible_class (triage-v3)": rules.band_metrics(
            val_probs, y_val, class_thresholds, threshold, high
        ),
    }
    cal_lesions = (
        None
        if records is None
        else [r.lesion_id for r, k in zip(records["calibration"], kept, strict=True) if k]
    )
    guarantees = rules.rule_out_comparison(
        (p_mal, is_mal, cal_lesions), (val_probs, y_val), class_thresholds, threshold, high
    )
    inner_edges, rate_intervals = calibration.malignant_rate_bins(is_mal, p_mal)

    # The candidate's files go to a staging directory; pipeline_ship.promote moves them into the
    # models directory only if the candidate beats the shipped model on validation.
    out_dir.mkdir(parents=True, exist_ok=True)
    ood_file = out_dir / f"{VERSION}-ood.npz"
    model_file = out_dir / f"{VERSION}.onnx"
    shutil.copyfile(onnx_path, model_file)
    np.savez(
        ood_file,
        means=means,
        whitening=whitening,
        colour_means=colour_means,
        colour_whitening=colour_whitening,
    )
    card: dict[str, Any] = {
        "version": VERSION,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "model_file": model_file.name,
        "sha256": sha256_file(model_file),
        "ood_file": ood_file.name,
        "ood_sha256": sha256_file(ood_file),
        "classes": list(CLASSES),
        "malignant_classes": list(MALIGNANT),
        "input": {
            "width": width,
            "height": height,
            "layout": "NCHW float32, RGB",
            "resize": f"PIL bilinear to {width}x{height}; portrait frames rotated 90 degrees first",
            "normalisation": f"(pixel - {PIXEL_MEAN}) / {PIXEL_STD}",
            "test_time_augmentation": "mean of identity and horizontal flip, inside the graph",
        },
        "temperature": temperature,
        "class_bias": [float(b) for b in bias],
        "calibration_method": {
            "chosen": chosen,
            "rule": CALIBRATION_RULE,
            "candidates_on_validation": choice,
        },
        "logit_adjustment": la_card,
        "rule_out_threshold": threshold,
        "rule_out": {
            "definition": "malignant_probability >= threshold counts as possibly malignant",
            "calibration_malignant_caught": caught,
            "calibration_malignant_total": n_mal,
            "sensitivity_lower_95_clopper_pearson": lower,
            "target_lower_bound": RULE_OUT_LOWER_BOUND,
            "target_attained": attained,
            "guarantees_compared": guarantees,
        },
        "high_band_cutoff": high,
        "class_thresholds": class_thresholds,
        "class_threshold_rule": {
            "severity": list(calibration.SEVERITY),
            "urgent_classes": list(calibration.URGENT_CLASSES),
            "chosen_on": "validation split",
            "mel_akiec": "the pair that puts the largest mean share of melanoma and of akiec "
            f"validation images in the high band with at most {rules.MAX_BENIGN_HIGH:.0%} of "
            "benign validation images there",
            "bcc": f"catches {rules.BCC_SENSITIVITY:.0%} of validation BCCs (intermediate band)",
            "validation_operating_points": band_rules,
        },
        "metadata_fusion_comparison": fusion_table,
        "monitoring": monitoring,
        "malignant_rate_bins": {
            "definition": "95% Clopper-Pearson interval of the malignant rate among assessed "
            "calibration images per decile bin of malignancy probability",
            "inner_edges": inner_edges,
            "intervals": [list(i) for i in rate_intervals],
            "counts": calibration.bin_counts(is_mal, p_mal, inner_edges),
        },
        "bands": {
            "high": f"malignant_probability >= {high:.4f}: suggest urgent suspected-cancer referral",
            "intermediate": "between the rule-out threshold and the high cut-off",
            "low": f"malignant_probability < {threshold:.4f}: eligible for the discharge pathway "
            "(a suggestion for the clinician only)",
            "high_cutoff_rule": f"{HIGH_BAND_SPECIFICITY:.0%} of benign calibration images below",
        },
        "abstention": {
            "gate": gate.__dict__,
            "mahalanobis_threshold": maha_threshold,
            "mahalanobis_quantile_of_calibration": MAHALANOBIS_QUANTILE,
            "mahalanobis_shrinkage": MAHALANOBIS_SHRINKAGE,
            "colour_threshold": colour_threshold,
            "colour_quantile_of_calibration": COLOUR_QUANTILE,
            "colour_white_balance_tolerance": COLOUR_WHITE_BALANCE,
            "min_top_probability": min_top,
            "min_top_probability_quantile_of_calibration": TOP_PROBABILITY_QUANTILE,
            "calibration_abstention_rate": float(1.0 - kept.mean()),
            "capture_views": (
                {
                    "what": CAPTURE_VIEWS_TEXT,
                    "train": len(train_views),
                    "calibration": len(cal_views),
                    "calibration_views_abstention_rate": float(1.0 - views_kept.mean()),
                }
                if views
                else None
            ),
        },
        "calibration_split": {
            "ece_before": metrics.ece(y_cal, metrics.softmax(cal_logits)),
            "ece_after": metrics.ece(y_cal, metrics.softmax(cal_logits / temperature + bias)),
        },
        **extra_card,
    }
    # An ensemble graph ships as its members, each checked by its own sha256 (ADR 0021).
    members = stage_members(
        onnx_path, (extra_card.get("training") or {}).get("ensemble"), out_dir, VERSION
    )
    if members:
        card["members"] = members
    if card.get("training", {}).get("ensemble"):
        # Where the members lay while staging is this machine's business, not the card's.
        card["training"] = {
            **card["training"],
            "ensemble": [
                {k: v for k, v in m.items() if k != "graph_path"}
                for m in card["training"]["ensemble"]
            ],
        }
    write_card(out_dir, card)
    return card


def _colour_stats(frames: np.ndarray) -> np.ndarray:
    """``colour_features`` of each uint8 NxHxWx3 frame (N x 12; 0 x 12 for no frames)."""
    if not len(frames):
        return np.zeros((0, len(colour_features(np.zeros((2, 2, 3), np.uint8)))), np.float32)
    return np.stack([colour_features(f) for f in frames])


def _scores(logits: np.ndarray, labels: np.ndarray, t: float, bias: np.ndarray) -> dict[str, float]:
    p = metrics.softmax(logits / t + bias)
    la = logit_adjust.scores(p, labels)
    return {
        "validation_malignant_auroc": la["malignant_auroc"],
        "validation_selection_score": la["selection_score"],
        "validation_nll": float(-np.log(p[np.arange(len(labels)), labels] + 1e-12).mean()),
        "validation_ece": metrics.ece(labels, p),
        "validation_accuracy": float((p.argmax(1) == labels).mean()),
        "validation_balanced_accuracy": metrics.balanced_accuracy(
            labels, p.argmax(1), len(CLASSES)
        ),
    }
