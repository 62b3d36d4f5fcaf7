"""Model card sections on the test results: target gaps, what was tried, subgroups, provenance."""

from __future__ import annotations

from typing import Any

from dermbridge.triage.training.card_format import (
    SMALL_GROUP_IMAGES,
    SMALL_GROUP_MALIGNANT,
    TARGETS,
    _met,
    _num,
    _with_ci,
    chosen_validation,
)
from dermbridge.triage.training.pipeline_settings import STUDENT_MAX_AUROC_LOSS


def _gaps_text(ev: dict[str, Any], tr: dict[str, Any], fusion_tried: bool = False) -> str:
    """What is missed, and what would close it; the trend is read from the training history."""
    missed = [name for name in TARGETS if not _met(ev, name)]
    if not missed:
        return "All six targets are met on the held-out test split."
    history = tr.get("history") or []
    trend = ""
    if len(history) >= 3:
        last = [h["balanced_accuracy"] for h in history[-3:]]
        auroc = [h["malignant_auroc"] for h in history[-3:]]
        rising = last[-1] > last[0] + 0.005 or auroc[-1] > auroc[0] + 0.005
        trend = (
            " Validation balanced accuracy over the last three epochs was "
            + ", ".join(f"{v:.3f}" for v in last)
            + " and malignant AUROC "
            + ", ".join(f"{v:.3f}" for v in auroc)
            + (
                ": still rising, so more epochs would help."
                if rising
                else ": flat, so more epochs of the same recipe would add little."
            )
        )
    return (
        f"Missed: {', '.join(missed)} (see the table). The model was trained for "
        f"{tr['epochs']} epochs on two shared CPU cores.{trend} What would close the gaps: "
        "the full-resolution 600x450 HAM10000 images instead of the 200x150 copies here (small "
        "structures such as atypical networks and regression are lost at this size) with a "
        "larger backbone at 260-300 px, which a GPU makes practical (EfficientNet-Lite2 at the "
        "200x150 here ranked no better than Lite1, and three- and four-network ensembles at "
        "most 0.003 better than two: Experiments), external "
        "dermoscopy (ISIC 2019/2020, BCN20000) for the rarer malignant classes, and the "
        "patient's age and sex and the lesion's body site as inputs beside the image (every "
        "referral carries them; "
        + (
            "fused after the fact with this network's outputs they did not help on validation, "
            "see Experiments: a metadata branch trained with the network is what is left to try). "
            if fusion_tried
            else "not tried here). "
        )
        + "Test-time augmentation beyond the horizontal flip (adding the vertical and both flips) "
        "was tried on the validation split with an intermediate checkpoint (epoch 8 of the "
        "triage-v2 run): malignant AUROC 0.902 with one view, 0.901 with two, 0.900 with four, so "
        "no gain. A larger "
        "calibration split would tighten the Clopper–Pearson bound and so allow a higher "
        "rule-out threshold (better specificity) at the same guaranteed sensitivity."
    )


def _tried_text(card: dict[str, Any]) -> str:
    """What this card's run tried against the gaps (numbers in the experiments table)."""
    la = card.get("logit_adjustment")
    tuned = card.get("experiments", [])
    if not la and not tuned:
        return ""
    parts = []
    if la:
        parts.append(
            f"the post-hoc logit adjustment (τ = {la['tau']:.2f}, "
            + (
                "shipped: it buys balanced accuracy and melanoma recall at the top class with "
                "accuracy on naevi"
                if la["shipped"]
                else "not shipped"
            )
            + ")"
        )
    if tuned:
        single = [e["runs"][0].get("config", {}) for e in tuned if len(e["runs"]) == 1]
        kinds = [
            (
                sum(1 for c in single if c.get("init_from") and not c.get("distil_from")),
                "fine-tune(s) of triage-v2's network",
            ),
            (sum(1 for c in single if c.get("distil_from")), "distilled student(s)"),
            (sum(1 for c in single if not c.get("init_from")), "training run(s) from ImageNet"),
            (sum(1 for e in tuned if len(e["runs"]) > 1), "ensemble(s)"),
        ]
        shipped = [e["name"] for e in tuned if str(e.get("verdict", "")).startswith("shipped")]
        parts.append(
            ", ".join(f"{n} {what}" for n, what in kinds if n)
            + " (logit-adjusted vs class-balanced loss, strong colour augmentation, the whole "
            "network, 200x150 input; "
            + (
                f"shipped: {', '.join(shipped)}"
                if shipped
                else "none cleared the shipping margin on validation"
            )
            + ", see Experiments)"
        )
    return " Tried for this card: " + "; ".join(parts) + "."


def _subgroup_table(groups: dict[str, dict[str, Any]]) -> str:
    rows = [
        "| group | images | malignant | abstained | accuracy | malignant AUROC (95% CI) "
        "| sensitivity (95% CI) | specificity (95% CI) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in groups.items():
        small = s["n"] < SMALL_GROUP_IMAGES or s["malignant_n"] < SMALL_GROUP_MALIGNANT
        label = f"{name} (small group: read with care)" if small else name
        rows.append(
            f"| {label} | {s['n']} | {s['malignant_n']} | {s['abstained']} | {_num(s['accuracy'])} "
            f"| {_with_ci(s, 'malignant_auroc')} | {_with_ci(s, 'sensitivity')} "
            f"| {_with_ci(s, 'specificity')} |"
        )
    return "\n".join(rows)


def _made_by(card: dict[str, Any]) -> str:
    members = card["training"].get("ensemble")
    source = card["training"].get("quantized_from")
    if source:
        out = f"var/triage/int8/{card['version']}.onnx"
        return (
            "`python -m dermbridge.triage.training.quantize --card "
            f"src/dermbridge/triage/models/{source['version']}.json --out {out}`, then `python -m "
            f"dermbridge.triage.training.pipeline --from-graph {out} --capture-frames …` (the "
            f"INT8 copy of {source['version']}'s networks, then the training pipeline refitting it)"
        )
    if members:
        first, *rest = members
        graphs = " ".join(f"--graph src/dermbridge/triage/models/{m['graph']}" for m in rest)
        return (
            "`python -m dermbridge.triage.training.ensemble_graph --checkpoint "
            f"var/triage/exp/{first['name']}/{first.get('checkpoint', 'best.pt')} {graphs} --out "
            f"var/triage/ensemble/{card['training']['network_from']}.onnx`, then `python -m "
            "dermbridge.triage.training.pipeline --from-graph "
            f"var/triage/ensemble/{card['training']['network_from']}.onnx --capture-frames …` "
            "(the members' graphs in one, then the training pipeline refitting it)"
        )
    if card["training"].get("network_from"):
        return (
            "`python -m dermbridge.triage.training.pipeline --from-graph "
            f"src/dermbridge/triage/models/{card['model_file']} --capture-frames …` (the training "
            "pipeline refitting an exported graph without training; `make train` retrains)"
        )
    return "`make train` (`src/dermbridge/triage/training/pipeline.py`)"


def _ensemble_text(card: dict[str, Any], members: list[dict[str, Any]]) -> str:
    quantized = bool(card["training"].get("quantized_from"))

    def what(m: dict[str, Any]) -> str:
        tr = m["training"]
        origin = (
            f"`{m['name']}`, the INT8 copy of an "
            f"EfficientNet-Lite{tr.get('backbone', 'efficientnet-lite0')[-1]} network"
            if quantized
            else f"`{m['name']}`'s network unchanged"
            if m.get("graph")
            else f"`{m['name']}`, trained from ImageNet weights (the training above)"
        )
        return (
            f"{origin}: {tr['epochs']} epochs at {m['input'][0]}x{m['input'][1]}, "
            f"{tr.get('loss', 'class_balanced').replace('_', '-')} loss, "
            f"{tr.get('colour', 'standard')} colour augmentation, "
            + (
                f"its last epoch ({tr.get('selected_epoch', '?')}, final.pt), not the epoch "
                "its own validation score picked: a choice made on the validation split "
                "(notes)"
                if m.get("checkpoint") == "final.pt"
                else f"selected epoch {tr.get('selected_epoch', '?')}"
            )
        )

    listed = "; ".join(f"({i + 1}) {what(m)}" for i, m in enumerate(members))
    return _quantized_text(card) + (
        f"- **`{card['version']}` is an ensemble of {len(members)} networks**, fitted and "
        "evaluated as one graph (`training/ensemble_graph.py`)"
        + (", shipped as its members (ADR 0021)" if card.get("members") else "")
        + f": {listed}. Each member is given the picture at its "
        "own input size, resized by Pillow as its training frames were; the logits are the "
        "mean of the members' (each already averaged with its horizontal flip); the "
        "out-of-distribution detector is fitted on the last member's features. Chosen on the "
        f"validation split (Experiments table). {_student_text(card)} Refitted on top "
        "of it, on the same splits: calibration, the post-hoc logit adjustment, the "
        "worst-plausible-class band thresholds, the colour detector, the low-confidence "
        "decline, the comparison of metadata fusions and the drift monitor's reference. "
        "Assessments made by earlier versions keep their version and card.\n"
    )


def _quantized_text(card: dict[str, Any]) -> str:
    """What an INT8 copy (``quantize.py``, ADR 0022) is, what it cost on validation and what it
    saves; empty for a float model."""
    source = card["training"].get("quantized_from")
    if not source:
        return ""
    d = card.get("ship_decision") or {}
    settings = source["settings"]
    cost = ""
    if d.get("shipped_validation"):
        views = d["views_malignant_auroc"]
        cost = (
            f" On the validation split (before the test split was scored) it kept "
            f"{source['version']}'s ranking: malignant AUROC {d['validation_malignant_auroc']:.3f} "
            f"against {d['shipped_validation']['validation_malignant_auroc']:.3f}, "
            f"{views['candidate']:.3f} against {views['shipped']:.3f} on the capture views, "
            f"selection score {d['validation_selection_score']:.3f} against "
            f"{d['shipped_validation_selection_score']:.3f}."
        )
    return (
        f"- **`{card['version']}` is the INT8 copy of `{source['version']}`'s networks** "
        f"(`training/quantize.py`, ADR 0022), made for latency: onnxruntime's static "
        f"quantization in {settings['format']} form, weights {settings['weights']}, activations "
        f"{settings['activations']} observed on {settings['calibration_frames']} "
        f"{settings['calibration_split']}-split frames (seed {settings['calibration_seed']}). "
        "The 7-bit weight range keeps the integer products within 16 bits on CPUs without "
        f"VNNI (onnxruntime's advice for such CPUs; every machine here has VNNI, so results "
        f"without it were not measured).{cost} "
        "Calibration, thresholds and detectors are refitted on the INT8 outputs; the training "
        f"below is `{source['version']}`'s.\n"
    )


def _student_text(card: dict[str, Any]) -> str:
    """What distilling this ensemble into one network gave: the experiments row of a student
    taught by this card's graph (``train.py --distil-from .../<version>.onnx``; for an INT8
    copy, by the graph it was quantized from), if any."""
    source = card["training"].get("quantized_from")
    graph = f"{source['version'] if source else card['version']}.onnx"
    student = next(
        (
            row
            for row in card.get("experiments") or []
            if any(
                str((run.get("config") or {}).get("distil_from", "")).endswith(graph)
                for run in row.get("runs") or []
            )
        ),
        None,
    )
    if student is None:
        return (
            "It was not distilled into one student network: a student is another full training "
            "run, which the shared CPU cores had no time left for; the ensemble costs one "
            "network pass per member (latency below)."
        )
    auroc = max(
        float(student[k]["malignant_auroc"])
        for k in ("temperature", "logit_adjusted")
        if k in student
    )
    # The teacher's validation AUROC: for an INT8 copy, the float model it was judged against;
    # otherwise the ensemble's own (as calibrated), whatever rule shipped it.
    decision = card.get("ship_decision") or {}
    own = chosen_validation(card, "validation_malignant_auroc")
    shipped = (decision.get("shipped_validation") or {}).get("validation_malignant_auroc")
    teacher = float(shipped if source and shipped is not None else own)
    loss = teacher - auroc
    verdict = (
        f"more than the {STUDENT_MAX_AUROC_LOSS} a student may lose, so the ensemble ships: it "
        "costs one network pass per member and still meets the latency target (below)"
        if loss > STUDENT_MAX_AUROC_LOSS
        else f"within the {STUDENT_MAX_AUROC_LOSS} a student may lose: the student is the "
        "candidate to ship next"
    )
    return (
        f"Distilled into one network (`{student['name']}`, Experiments table): validation "
        f"malignant AUROC {auroc:.3f} against the ensemble's {teacher:.3f} ({-loss:+.3f}), "
        f"{verdict}."
    )


def _refit_text(card: dict[str, Any]) -> str:
    parent = card["training"].get("network_from")
    if not parent:
        return ""
    members = card["training"].get("ensemble")
    if members:
        return _ensemble_text(card, members)
    if card["training"].get("quantized_from"):
        return _quantized_text(card)
    return (
        f"- **`{card['version']}` reuses the `{parent}` network unchanged** (same graph file, same "
        "sha256; the training above is that network's). Refitted on top of it, on the same "
        "splits: calibration, the worst-plausible-class band thresholds, the white-balance-tolerant "
        "colour detector, the low-confidence decline, and the comparison of metadata fusions; "
        "the AI input is now cut from the dermatoscope's field of view (below)."
        + _since_text(card)
        + "\n"
    )


def _since_text(card: dict[str, Any]) -> str:
    views = card["abstention"].get("capture_views")
    if views:
        decision = card.get("ship_decision") or {}
        return (
            f" New in `{card['version']}`: the abstention detectors are fitted on every training "
            f"image and one phone-dermatoscope capture view of it ({views['train']:,} of each), "
            f"and their thresholds are the same quantiles of calibration images and their views "
            f"({views['calibration']:,} of each; ADR 0019), so a rotated, magnified or "
            f"re-white-balanced lesion is no longer declined for being framed by a phone. "
            + (
                f"The calibration is `{decision['shipped_version']}`'s, refitted on the same "
                "logits; assessments made by earlier versions keep their version and card."
                if decision.get("kind") == "abstention refit"
                else "Assessments made by earlier versions keep their version and card."
            )
        )
    if card.get("logit_adjustment", {}).get("shipped"):
        return (
            " New since `triage-v3` (same network, same detector arrays): the post-hoc logit "
            "adjustment and what is refitted after it (temperature, rule-out threshold, band "
            "thresholds, low-confidence decline, the drift monitor's reference); assessments made "
            "by `triage-v3` keep that version and its card."
        )
    return ""


def _top_text(ab: dict[str, Any]) -> str:
    if not ab.get("min_top_probability"):
        return ""
    return (
        f"; (4) an image whose most probable class is below "
        f"{ab['min_top_probability']:.3f} (the {ab['min_top_probability_quantile_of_calibration']:.0%} "
        "quantile of calibration-split images) is declined as one the model cannot place among "
        "its classes (a cat photo scored 0.18, near the uniform 0.14)"
    )
