"""The model card (docs/model-card.md) as a template filled from the card JSON.

Generated, so every number in it comes from the pipeline run that produced the shipped model.
Longer than ~400 lines because it is mostly the card's prose, kept in one template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dermbridge.triage.labels import CLASS_NAMES, CLASSES

# Issue 15's targets for triage-v3 on the held-out test split.
TARGETS = {
    "malignant_auroc": (">=", 0.94),
    "balanced_accuracy": (">=", 0.78),
    "accuracy": (">=", 0.84),
    "sensitivity": (">=", 0.95),
    "specificity": (">=", 0.65),
    "ece": ("<=", 0.04),
}


# A subgroup with fewer images or malignant images than these is flagged in the card.
SMALL_GROUP_IMAGES = 50
SMALL_GROUP_MALIGNANT = 10


def _num(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None or v != v else f"{v:.{digits}f}"


def _with_ci(s: dict[str, Any], name: str) -> str:
    lo, hi = s.get(f"{name}_ci", [None, None])
    return f"{_num(s.get(name))} ({_num(lo)}–{_num(hi)})"


def _met(s: dict[str, Any], name: str) -> bool:
    op, goal = TARGETS[name]
    value = s.get(name)
    return value is not None and (value >= goal if op == ">=" else value <= goal)


def _target_row(s: dict[str, Any], name: str) -> str:
    op, goal = TARGETS[name]
    value = s.get(name)
    met = _met(s, name)
    gap = "" if met or value is None else f" (short by {abs(value - goal):.3f})"
    return f"| {name} | {_with_ci(s, name)} | {op} {goal} | {'met' if met else 'missed' + gap} |"


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
        "structures such as atypical networks and regression are lost at this size), a larger "
        "backbone at 260-300 px (EfficientNet-Lite2/B3, which a GPU makes practical), an "
        "ensemble of seeds (each member adds about the latency of one more pass), external "
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
        parts.append(
            f"{len(tuned)} fine-tunes or ensembles of the shipped network (logit-adjusted vs "
            "class-balanced loss, strong colour augmentation, the whole network, 200x150 input; "
            "none cleared the shipping margin "
            "on validation, see Experiments)"
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
    if card["training"].get("network_from"):
        return (
            "`python -m dermbridge.triage.training.pipeline --from-graph "
            f"src/dermbridge/triage/models/{card['model_file']} --capture-frames …` (the training "
            "pipeline refitting an exported graph without training; `make train` retrains)"
        )
    return "`make train` (`src/dermbridge/triage/training/pipeline.py`)"


def _refit_text(card: dict[str, Any]) -> str:
    parent = card["training"].get("network_from")
    if not parent:
        return ""
    return (
        f"- **`{card['version']}` reuses the `{parent}` network unchanged** (same graph file, same "
        "sha256; the training above is that network's). Refitted on top of it, on the same "
        "splits: calibration, the worst-plausible-class band thresholds, the white-balance-tolerant "
        "colour detector, the low-confidence decline, and the comparison of metadata fusions; "
        "the AI input is now cut from the dermatoscope's field of view (below)."
        + (
            " New since `triage-v3` (same network, same detector arrays): the post-hoc logit "
            "adjustment and what is refitted after it (temperature, rule-out threshold, band "
            "thresholds, low-confidence decline, the drift monitor's reference); assessments made "
            "by `triage-v3` keep that version and its card."
            if card.get("logit_adjustment", {}).get("shipped")
            else ""
        )
        + "\n"
    )


def _top_text(ab: dict[str, Any]) -> str:
    if not ab.get("min_top_probability"):
        return ""
    return (
        f"; (4) an image whose most probable class is below "
        f"{ab['min_top_probability']:.3f} (the {ab['min_top_probability_quantile_of_calibration']:.0%} "
        "quantile of calibration-split images) is declined as one the model cannot place among "
        "its classes (a cat photo scored 0.18, near the uniform 0.14)"
    )


def _band_text(card: dict[str, Any]) -> str:
    """How the band is chosen: the worst plausible class (v3 on) or the summed probability."""
    th = card.get("class_thresholds")
    if not th:
        return (
            f"- **High band:** malignant probability ≥ {card['high_band_cutoff']:.4f}\n"
            f"  ({card['bands']['high_cutoff_rule']})."
        )
    rule = card["class_threshold_rule"]
    ops = rule["validation_operating_points"]
    rows = "\n  ".join(
        f"| {name} | {_num(v['sensitivity'])} | {_num(v['specificity'])} | "
        f"{_num(v['melanoma_sensitivity'])} | {_num(v['melanoma_high_band'])} | "
        f"{_num(v['malignant_high_band'])} | {_num(v['benign_high_band'])} |"
        for name, v in ops.items()
    )
    return f"""- **Band: the worst plausible class**, not the arg-max and not the summed probability alone.
  The most severe class whose calibrated probability reaches its own threshold sets the band:
  melanoma (≥ {th["mel"]:.4f}) or SCC/IEC (HAM10000's `akiec`, ≥ {th["akiec"]:.4f}) → **high**;
  else BCC (≥ {th["bcc"]:.4f}) → **intermediate**; else the summed malignancy probability decides
  between intermediate and **low** (rule-out threshold above). HAM10000 merges actinic keratosis
  with intraepidermal carcinoma (Bowen's) in `akiec`; it cannot be split, so it is ranked in the
  urgent tier with melanoma (the safe side). Thresholds chosen on the validation split: melanoma
  and akiec as the pair that puts the largest mean share of melanomas and akiec lesions in the
  high band with at most 10% of benign validation images there (the budget of triage-v2's high
  cut-off); BCC as the threshold that catches 95% of validation BCCs. The low band can only
  shrink under this rule, so the rule-out guarantee above still holds. Validation split
  (598 images; optimistic for the new rule, whose thresholds were chosen on it):

  | band rule | sensitivity | specificity | melanoma not low | melanoma high | malignant high | benign high |
  |---|---|---|---|---|---|---|
  {rows}"""


def _captures_text(card: dict[str, Any]) -> str:
    runs = card.get("captures") or []
    if not runs:
        return "Not measured for this model (run `python -m dermbridge.triage.capture_bench`)."
    lines = [
        "| capture set | lesions | abstained: plain | captured, new framing | captured, old "
        "framing (whole frame shrunk) | malignant AUROC plain (95% CI) | captured (95% CI) | "
        "paired difference (95% CI) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if r.get("missing"):
            lines.append(f"| {r['frames']} | not found | | | | | | |")
            continue
        w, h = r["photo_size"]
        paired = r.get("paired", {})
        lo, hi = paired.get("ci", [None, None])
        lines.append(
            f"| {w}x{h} ({w * h / 1e6:.0f} MP) | {r['plain']['n']} "
            f"| {r['plain']['abstention_rate']:.1%} | {r['capture']['abstention_rate']:.1%} "
            f"| {r['capture_old_framing']['abstention_rate']:.1%} "
            f"| {_with_ci(r['plain'], 'malignant_auroc')} "
            f"| {_with_ci(r['capture'], 'malignant_auroc')} "
            f"| {_num(paired.get('auroc_capture_minus_plain'))} ({_num(lo)} to {_num(hi)}) |"
        )
    return "\n".join(lines)


def _non_skin_text(card: dict[str, Any]) -> str:
    ns = card.get("non_skin")
    if not ns:
        return "Not measured for this model."
    rows = "\n".join(
        f"| {name} | {v['n']} | {v['declined']} | {v['rate']:.1%} |"
        for name, v in ns.items()
        if isinstance(v, dict) and "n" in v
    )
    assessed = "; ".join(
        f"{a['picture']} ({a['band']}, p {a['p_malignant']:.2f})" for a in ns.get("assessed", [])
    )
    return f"""| source | pictures | declined | rate |
|---|---|---|---|
{rows}

Assessed instead of declined: {assessed or "none"}."""


def _logit_adjustment_text(card: dict[str, Any]) -> str:
    """How the post-hoc logit adjustment was chosen, and whether it shipped (cards that have it)."""
    la = card.get("logit_adjustment")
    if not la:
        return ""
    best = next(r for r in la["sweep_on_validation"] if r["tau"] == la["tau"])
    base = next(r for r in la["sweep_on_validation"] if r["tau"] == 0.0)
    diff = la.get("paired_difference_on_validation", {})

    def d(name: str) -> str:
        v = diff.get(name)
        if not v:
            return ""
        return f" ({v['difference']:+.3f}, 95% CI {v['ci'][0]:+.3f} to {v['ci'][1]:+.3f})"

    return f"""
- **Post-hoc logit adjustment** (Menon et al. 2021, §4: subtract τ·log(training class
  frequency) from the logits, the balanced-error-optimal decision): τ from 0 to 1.5 in steps
  of 0.05, the temperature refitted on the calibration split for each, τ chosen on the
  validation split as the highest mean of balanced accuracy and malignant AUROC. Best τ =
  {la["tau"]:.2f}: validation balanced accuracy {base["balanced_accuracy"]:.3f} →
  {best["balanced_accuracy"]:.3f}{d("balanced_accuracy")}, accuracy {base["accuracy"]:.3f} →
  {best["accuracy"]:.3f}{d("accuracy")}, malignant AUROC {base["malignant_auroc"]:.3f} →
  {best["malignant_auroc"]:.3f}{d("malignant_auroc")}, ECE {base["ece"]:.3f} → {best["ece"]:.3f}
  (paired differences resampling validation lesions); ECE on the calibration split with the
  adjustment {_num(la.get("calibration_split_ece"))}. Rule: {la["rule"]}.
  **{"Shipped" if la["shipped"] else "Not shipped"}**{
        ": the temperature, the rule-out threshold, the band thresholds, the low-confidence "
        "decline and the drift monitor's reference are all refitted on the adjusted "
        "probabilities (calibration split; band thresholds on validation), so the rule-out "
        "guarantee holds for what ships. The adjusted probabilities estimate a lesion's class "
        "under less naevus-dominated priors than HAM10000's; the trade is fewer naevi called "
        "naevi (accuracy) for more melanomas, BCCs and rare classes found at the top class."
        if la["shipped"]
        else "."
    }"""


def _finetune_rows(card: dict[str, Any]) -> list[str]:
    """One row per recorded fine-tune (``training/experiments.json``), validation only."""
    rows = []
    for e in card.get("experiments", []):
        cfg = e["runs"][0]["config"]
        t, la = e["temperature"], e["logit_adjusted"]
        members = [Path(r["checkpoint"]).parent.name for r in e["runs"]]
        what = (
            f"ensemble: {e['name']} (mean of the members' logits: {', '.join(members)})"
            if len(members) > 1
            else f"fine-tune: {e['name']} ({cfg.get('max_steps') or cfg['epochs']} "
            f"{'steps' if cfg.get('max_steps') else 'epoch(s)'} from "
            f"{Path(cfg.get('init_from') or 'ImageNet').stem}, "
            + (
                f"first {cfg['freeze_blocks']} of 16 blocks frozen, "
                if cfg.get("freeze_blocks")
                else ""
            )
            + f"loss {cfg['loss'].replace('_', ' ')}"
            + (f" τ {cfg['la_tau']}" if cfg["loss"] == "logit_adjusted" else "")
            + f", {cfg['colour']} colour augmentation, input {cfg['input_width']}x"
            f"{cfg['input_height']}, lr {cfg['lr']}" + ")"
        )
        result = (
            f"temperature: balanced accuracy {t['balanced_accuracy']:.3f}, accuracy "
            f"{t['accuracy']:.3f}, malignant AUROC {t['malignant_auroc']:.3f}, ECE {t['ece']:.3f}; "
            f"with post-hoc logit adjustment (τ {la['tau']:.2f}): balanced accuracy "
            f"{la['balanced_accuracy']:.3f}, accuracy {la['accuracy']:.3f}, malignant AUROC "
            f"{la['malignant_auroc']:.3f}, ECE {la['ece']:.3f}"
            + (
                f"; {e['seconds_per_step']:.1f} s per 32-image training step on the shared cores"
                if e.get("seconds_per_step") and len(members) == 1
                else ""
            )
        )
        rows.append(f"| {what} | {result} | {e.get('verdict', 'not shipped')} |")
    return rows


def _experiments_text(card: dict[str, Any]) -> str:
    rows = []
    for name, v in card["calibration_method"]["candidates_on_validation"].items():
        rows.append(
            f"| calibration: {name.replace('_', ' ')} | NLL {v['validation_nll']:.3f}, balanced "
            f"accuracy {v['validation_balanced_accuracy']:.3f}, ECE {v['validation_ece']:.3f} | "
            f"{'shipped' if name == card['calibration_method']['chosen'] else 'not shipped'} |"
        )
    rule = card.get("class_threshold_rule")
    if rule:
        for name, v in rule["validation_operating_points"].items():
            rows.append(
                f"| band rule: {name} | melanoma high {_num(v['melanoma_high_band'])}, benign high "
                f"{_num(v['benign_high_band'])}, sensitivity {_num(v['sensitivity'])}, "
                f"specificity {_num(v['specificity'])} | "
                f"{'shipped' if 'worst' in name else 'replaced'} |"
            )
    fusion = card.get("metadata_fusion_comparison")
    if fusion:
        base = fusion["image_only"]
        rows.append(
            f"| image only (no metadata) | malignant AUROC {base['malignant_auroc']:.3f}, balanced "
            f"accuracy {base['balanced_accuracy']:.3f}, NLL {base['nll']:.3f} | baseline |"
        )
        for name in ("posthoc_logistic", "metadata_branch"):
            for cond in ("with_metadata", "without_metadata"):
                v = fusion[name][cond]
                rows.append(
                    f"| metadata fusion: {name.replace('_', ' ')}, {cond.replace('_', ' ')} | "
                    f"malignant AUROC {v['malignant_auroc']:.3f}, balanced accuracy "
                    f"{v['balanced_accuracy']:.3f}, NLL {v['nll']:.3f}, ECE {v['ece']:.3f} | "
                    f"{'shipped' if fusion.get('shipped') == name else 'not shipped'} |"
                )
    la = card.get("logit_adjustment")
    if la:
        for r in la["sweep_on_validation"]:
            if r["tau"] in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5) or r["tau"] == la["tau"]:
                rows.append(
                    f"| post-hoc logit adjustment τ = {r['tau']:.2f} (T {r['temperature']:.3f}) | "
                    f"balanced accuracy {r['balanced_accuracy']:.3f}, accuracy "
                    f"{r['accuracy']:.3f}, malignant AUROC {r['malignant_auroc']:.3f}, ECE "
                    f"{r['ece']:.3f}, NLL {r['nll']:.3f} | "
                    + ("chosen τ" if r["tau"] == la["tau"] else "not chosen")
                    + (" (shipped)" if r["tau"] == la["tau"] and la["shipped"] else "")
                    + " |"
                )
    rows.extend(_finetune_rows(card))
    for extra in card.get("experiments_not_run", []):
        rows.append(f"| {extra['what']} | {extra['result']} | {extra['verdict']} |")
    return "| experiment | validation result | verdict |\n|---|---|---|\n" + "\n".join(rows)


def render(card: dict[str, Any]) -> str:
    ev = card["evaluation"]
    splits = card["data"]["splits"]
    split_rows = "\n".join(
        f"| {name} | {c['lesions']} | {c['images']} | "
        + " | ".join(str(c[dx]) for dx in CLASSES)
        + " |"
        for name, c in splits.items()
    )
    recall_rows = "\n".join(
        f"| {dx} ({CLASS_NAMES[dx]}) | {ev['per_class_n'][dx]} | {_num(ev['per_class_recall'][dx])} |"
        for dx in CLASSES
    )
    cm = ev["confusion_matrix"]["counts"]
    cm_rows = "\n".join(
        f"| **{dx}** | " + " | ".join(str(v) for v in row) + " |"
        for dx, row in zip(CLASSES, cm, strict=True)
    )
    ood = card["ood_abstention"]
    ood_rows = "\n".join(
        f"| {name} | {v['n']} | {v['abstained']} | {v['rate']:.1%} |" for name, v in ood.items()
    )
    sub = ev["subgroups"]
    tr = card["training"]
    ro = card["rule_out"]
    ab = card["abstention"]
    chosen = card["calibration_method"]["chosen"]
    biases = ", ".join(f"{c} {b:+.2f}" for c, b in zip(CLASSES, card["class_bias"], strict=True))
    if chosen == "temperature_and_logit_adjustment":
        calib_text = (
            "temperature scaling after a post-hoc logit adjustment (Menon et al. 2021, §4), "
            f"softmax(z / T − τ·log prior) with τ = {card['logit_adjustment']['tau']:.2f} "
            f"(class offsets {biases})"
        )
    elif chosen != "temperature":
        calib_text = f"temperature scaling with a per-class bias ({biases})"
    else:
        calib_text = "temperature scaling"
    cands = "; ".join(
        f"{name.replace('_', ' ')}: validation NLL {v['validation_nll']:.3f}, ECE "
        f"{v['validation_ece']:.3f}, accuracy {v['validation_accuracy']:.3f}, balanced accuracy "
        f"{v['validation_balanced_accuracy']:.3f}"
        for name, v in card["calibration_method"]["candidates_on_validation"].items()
    )
    ema_text = (
        f"Exponential moving average of the weights and batch-norm statistics (decay "
        f"{tr['ema_decay']}) is what was evaluated, selected and exported.\n  "
        if tr.get("ema_decay")
        else ""
    )
    notes = "".join(f"\n- Note: {n}" for n in card.get("notes", []))
    if not ro.get("target_attained", True):
        notes += (
            "\n- **The rule-out target was not attainable on the calibration split** (too few "
            "malignant images): the threshold catches all of them."
        )
    return f"""# Model card: DermBridge triage AI `{card["version"]}`

Generated by {_made_by(card)} on {card["created"]}.
Machine-readable card: `src/dermbridge/triage/models/{card["version"]}.json`
(model sha256 `{card["sha256"]}`).

## Reproduce
- `make train`: fine-tune (resumable from `var/triage/run/last.pt`), export, calibrate, evaluate,
  regenerate this card and `docs/img/triage-*.png` (needs the `train` extra and
  `../shared/data/ham10000`, or `DERMBRIDGE_SHARED_DIR`).
- `dermbridge triage-eval --images ../shared/data/ham10000/images --metadata
  ../shared/data/ham10000/metadata.csv --split test --out var/triage-eval.json` recomputes the
  test-split numbers below with the shipped model (no database, no torch).
- `make bench`: latency of the shipped ONNX model vs the PyTorch eager network, one thread.
- Experiments (validation only): `python -m dermbridge.triage.training.train --init-from
  src/dermbridge/triage/models/triage-v2.onnx --freeze-blocks 11 --max-steps 100 --lr 1e-4
  --ema-decay 0.99 --loss logit_adjusted --out var/triage/exp/NAME` (also `--colour strong`,
  `--input-size 200x150`; resumable, progress with ETA), then `python -m
  dermbridge.triage.training.experiments --checkpoint var/triage/exp/NAME/final.pt --name NAME`
  adds its validation row to `training/experiments.json`, which the table below reads.

## Intended use
- **What it does:** for one *dermoscopic* image of a single skin lesion it gives calibrated
  probabilities over seven diagnoses (HAM10000 classes), the probability that the lesion is
  malignant or pre-malignant (melanoma, basal cell carcinoma, actinic keratosis / intraepidermal
  carcinoma) and a risk band: **high** (suggest urgent suspected-cancer referral), **intermediate**,
  **low** (below the rule-out threshold: *eligible* for the discharge pathway).
- **Who uses it:** a dermatologist or trained clinician triaging teledermatology referrals, as a
  pre-read shown beside the images and history. Every band is a suggestion; a clinician makes
  every decision and remains responsible for it.
- **Must not be used:** to discharge or diagnose without clinician review; on clinical
  (non-dermoscopic) overview photos, mucosal, nail, scalp-hair-covered or ulcerated lesions it was
  not trained on; on children (very few in the data); as the only review for black or brown skin
  (training data are mostly Fitzpatrick I–III, NICE HTE24 requires clinician review there); for any
  commercial purpose (training data licence CC BY-NC 4.0). It is not a medical device.

## Model
- {card["backbone"]}. {card.get("weights_checked", "")}
- 7-class linear head; input {card["input"]["width"]}x{card["input"]["height"]}
  RGB, {card["input"]["normalisation"]}; {card["input"]["test_time_augmentation"]}.
- Fine-tuned on CPU with PyTorch {tr["torch"]}: {tr["epochs"]} epochs, AdamW (lr {tr["lr"]},
  weight decay {tr["weight_decay"]}), batch {tr["batch_size"]}, warm-up then cosine decay,
  class-weighted cross-entropy (weight ∝ frequency^-{tr["class_weight_power"]}), augmentation:
  rotation ±45°, flips, zoom 0.8–1.1, shifts, brightness/contrast/saturation/white-balance jitter.
  {ema_text}Selected checkpoint: epoch {tr["selected_epoch"]} (best mean of balanced accuracy and malignant
  AUROC on the validation split). Seed {tr["seed"]}; deterministic algorithms.
{_refit_text(card)}- Runtime: ONNX (`{card["model_file"]}`) with onnxruntime, no PyTorch. Integrity: sha256 of the
  graph and of the detector arrays are checked at load; a missing or corrupt file gives "no AI
  assessment available", never an error.
- **Calibration:** {calib_text} fitted on the calibration split, T = {card["temperature"]:.3f}
  (calibration-split ECE {card["calibration_split"]["ece_before"]:.3f} →
  {card["calibration_split"]["ece_after"]:.3f}). Plain temperature scaling and temperature
  scaling with a per-class logit bias (Alexandari et al. 2020, which undoes the prior shift of
  the class-weighted loss) were both fitted; the one with the lower NLL on the validation split
  is kept, unless the two NLLs are within 1% of each other, when the higher validation balanced
  accuracy decides ({cands}).{_logit_adjustment_text(card)}
- **Rule-out threshold:** malignant probability {card["rule_out_threshold"]:.4f}, the highest
  threshold at which the lower two-sided 95% Clopper–Pearson bound of malignant sensitivity on the
  calibration split is ≥ {ro["target_lower_bound"]} ({ro["calibration_malignant_caught"]} of
  {ro["calibration_malignant_total"]} malignant images caught, lower bound
  {ro["sensitivity_lower_95_clopper_pearson"]:.3f}). Images of one lesion are not independent, so
  this bound is somewhat optimistic.
{_band_text(card)}
- **Uncertainty shown to the dermatologist:** an interval for the malignancy probability that
  always contains it: the Wilson 95% interval around the probability given the calibration
  images in its decile bin, widened to cover the exact 95% interval of the malignant rate
  observed among them (so a bin whose observed rate sits below or above the probability widens
  the range rather than excluding the estimate: 33% shows as "likely between 16% and 43%").
- **Abstention:** (1) an image-statistics gate declines blank, under-/over-exposed, saturated,
  blurred and very noisy frames (cut-offs {ab["gate"]}); (2) a Gaussian on twelve colour and
  texture statistics of the frame, fitted on the training split, declines frames whose squared
  Mahalanobis distance exceeds the {ab["colour_quantile_of_calibration"]:.0%} quantile of
  calibration-split distances ({ab["colour_threshold"]:.1f}); (3) a Mahalanobis detector on the 1280-d penultimate
  features (class means and shrunk shared covariance fitted on the training split; threshold the
  {ab["mahalanobis_quantile_of_calibration"]:.0%} quantile of calibration-split distances,
  {ab["mahalanobis_threshold"]:.1f}) declines images unlike the training dermoscopy{_top_text(ab)}.{notes}

## Data and licence
HAM10000: P. Tschandl, C. Rosendahl, H. Kittler, "The HAM10000 dataset, a large collection of
multi-source dermatoscopic images of common pigmented skin lesions", *Sci. Data* 5, 180161 (2018),
doi:10.7910/DVN/DBW86T — licence **CC BY-NC 4.0** (attribution, non-commercial; so is this model).
Used as the 8,553-image subset downsampled to 200x150 JPEG by the public repository
mmalek06/bounding-box-detection-ham1000 (commit fcf5ea80af329997639e3bdb65bd3bf80a0571d7).
Ground truth: histopathology, follow-up, expert consensus or confocal microscopy.

## Splits
Grouped by `lesion_id` (no lesion in two splits), stratified by diagnosis, seed
{card["data"]["split_seed"]}, fractions of lesions {card["data"]["split_fractions_of_lesions"]}.

| split | lesions | images | {" | ".join(CLASSES)} |
|---|---|---|{"---|" * len(CLASSES)}
{split_rows}

## Results on the held-out test split
{ev["n"]} images; the model abstained on {ev["abstained"]} ({ev["abstention_rate"]:.1%}); metrics
are over the {ev["n_assessed"]} assessed images ({ev["lesions_assessed"]} lesions). Intervals:
95% percentile bootstrap resampling lesions ({card.get("bootstrap", 1000)} resamples).
Malignant = mel + bcc + akiec; sensitivity/specificity at the shipped rule-out threshold.

| metric | value (95% CI) | target | status |
|---|---|---|---|
{_target_row(ev, "malignant_auroc")}
{_target_row(ev, "balanced_accuracy")}
{_target_row(ev, "accuracy")}
{_target_row(ev, "sensitivity")}
{_target_row(ev, "specificity")}
{_target_row(ev, "ece")}
| macro_auroc | {_with_ci(ev, "macro_auroc")} | | |
| ECE before temperature scaling | {_num(ev["ece_before_temperature"])} | | |
| melanoma sensitivity (not low) at the shipped operating point | {_with_ci(ev, "melanoma_sensitivity")} | | |
| melanoma in the high band | {_with_ci(ev, "melanoma_high_band")} | | |
| latency p50 / p95 (one thread; assess(): resize, gates, network, detectors; no JPEG decode) | {ev["latency_ms_p50"]:.1f} / {ev["latency_ms_p95"]:.1f} ms | <= 30 ms | see `make bench` |

Risk bands on the test split: {ev["band_counts"]}.

{_gaps_text(ev, tr, bool(card.get("metadata_fusion_comparison")))}{_tried_text(card)}

### Recall per class
| class | test images | recall |
|---|---|---|
{recall_rows}

### Confusion matrix (rows true, columns predicted)
| | {" | ".join(CLASSES)} |
|---|{"---|" * len(CLASSES)}
{cm_rows}

![confusion matrix](img/triage-confusion.png)
![ROC](img/triage-roc.png)
![reliability](img/triage-reliability.png)

### By sex
{_subgroup_table(sub["sex"])}

### By age band
{_subgroup_table(sub["age_band"])}

### By body site
{_subgroup_table(sub["body_site"])}

Small subgroups have wide intervals; a subgroup without malignant or benign images has no AUROC.
Groups with fewer than 50 images or fewer than 10 malignant images are flagged as small.

## Abstention on out-of-distribution inputs
Assembled offline (`training/ood.py`): scikit-image's bundled sample photographs and crops of them,
low-resolution face photographs (skin but not dermoscopy: the only offline proxy for clinical
overview photos), synthetic images (noise, gradients, stripes, drawn brown ellipses on a skin-like
background), blank frames, and real test-split dermoscopy made unreadable.

| category | images | abstained | rate |
|---|---|---|---|
{ood_rows}

In-distribution: {ev["abstention_rate"]:.1%} of test images declined (target ≤ 4%).

Caveat: the detectors' thresholds were set on in-distribution calibration images only, but this
out-of-distribution set was also used during development (the colour/texture detector was added
after the feature-space detector alone declined only about 60% of non-skin and face photos), so
these rates are optimistic; there is no separate held-out out-of-distribution set, and no real
clinical overview photographs were available offline.

## Phone-dermatoscope captures (the real upload pipeline)
One image per test-split lesion (a seeded random subset) made into the photo a phone with a
clip-on dermatoscope takes (`triage/captures.py`: round field of view 45–90% of the short side,
soft vignetted edge, near-black noisy surround, up to 12% off-centre, zoom 0.8/1.0/1.2 of the
frame's diagonal, any rotation, white balance ±12%, JPEG quality 90), uploaded through
`imaging.pipeline.process_image`, and the `ai_input` derivative assessed. The derivative is now
cut from the detected field of view (`imaging/pipeline/aperture.py`); "old framing" is the
whole photo shrunk, as before. Made by `python -m dermbridge.triage.capture_bench` (frames kept in
`var/triage/`), rescored here with this model.

{_captures_text(card)}

## Non-skin pictures
Every picture file the installed Python packages ship (scikit-image's sample data,
matplotlib's sample data, test images of scipy, networkx and sympy, icons of Django REST
framework and Playwright; `training/ood.py` `PACKAGE_PICTURE_DIRS`), each whole and as three
random crops, plus generated documents, phone screenshots and flat colours, framed for the AI
exactly as an upload is. No detector was fitted on any of them (they are fitted on HAM10000
training images, thresholds on calibration images); but they were looked at while the
abstention rules were designed, so the rates are optimistic. imageio's standard images are not
installed (it downloads them on demand) and Pillow ships no test images in its wheel.

{_non_skin_text(card)}

## Experiments (validation split only; the test split was used once, for the numbers above)
{_experiments_text(card)}

## Comparison with published anchors
| | this model (test split) | anchor |
|---|---|---|
| any-cancer sensitivity / benign specificity | {_num(ev["sensitivity"])} / {_num(ev["specificity"])} | DERM (Skin Analytics, April 2022, 29,453 lesions): 97% / 71% |
| 7-class accuracy | {_num(ev["accuracy"])} | MedMNIST+ DermaMNIST ~0.79–0.82 at 128 px (image-level splits, which leak lesions) |
| 7-class balanced accuracy | {_num(ev["balanced_accuracy"])} | ISIC 2018 task 3 best 0.885 (ensembles, full resolution) |

The anchors use other data, populations, resolutions and protocols; they orient, they do not
compare like with like. DERM's specificity is on real referral populations with a different case
mix; our benign set is dominated by naevi.

## Known limits
- Trained on 200x150 (used at 160x120) downsampled images; fine structures visible at full
  dermoscopic resolution are lost.
- HAM10000 comes from two centres (Vienna, Queensland), mostly Fitzpatrick I–III skin; performance
  on darker skin is unknown. Not validated on clinical (non-dermoscopic) photographs or on
  smartphone dermoscopy adaptors; the abstention detector was not tested on real clinical photos.
- No squamous cell carcinoma class (HAM10000 has none separate from akiec); amelanotic and
  rare lesions are under-represented. The discharge suggestion assumes the lesion is one of the
  seven classes.
- Labels from follow-up or consensus (not histology) for many naevi.
- Thresholds were fixed on one calibration split of a research dataset whose malignant prevalence
  (~20%) is far above primary care; positive predictive values will differ in practice.
- Single model, few CPU epochs; see the targets table for what is and is not met.
"""
