"""Model card sections on the logit adjustment and the experiments table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dermbridge.triage.training.card_format import _num


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
        members = [r.get("member") or Path(r["checkpoint"]).parent.name for r in e["runs"]]
        what = (
            f"ensemble: {e['name']} (mean of the members' logits: {', '.join(members)})"
            if len(members) > 1
            else f"{'fine-tune' if cfg.get('init_from') else 'trained'}: {e['name']} "
            f"({cfg.get('max_steps') or cfg['epochs']} "
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
            f"{cfg['input_height']}, lr {cfg['lr']}"
            + (
                f", distilled from {Path(cfg['distil_from']).stem} (weight "
                f"{cfg['distil_weight']}, temperature {cfg['distil_temperature']})"
                if cfg.get("distil_from")
                else ""
            )
            + ")"
        )
        result = (
            f"temperature: balanced accuracy {t['balanced_accuracy']:.3f}, accuracy "
            f"{t['accuracy']:.3f}, malignant AUROC {t['malignant_auroc']:.3f}, ECE {t['ece']:.3f}; "
            f"with post-hoc logit adjustment (τ {la['tau']:.2f}): balanced accuracy "
            f"{la['balanced_accuracy']:.3f}, accuracy {la['accuracy']:.3f}, malignant AUROC "
            f"{la['malignant_auroc']:.3f}, ECE {la['ece']:.3f}"
            + (
                f"; {e['seconds_per_step']:.1f} s per 32-image training step "
                + (
                    "on a CUDA GPU"
                    if any(
                        h.get("device", "cpu").startswith("cuda")
                        for h in e["runs"][0].get("history") or []
                    )
                    else "on the shared cores"
                )
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
                    f"{r['ece']:.3f}, NLL {r['nll']:.3f}"
                    + (
                        f", calibration-split ECE {r['calibration_ece']:.3f}"
                        if "calibration_ece" in r
                        else ""
                    )
                    + " | "
                    + ("chosen τ" if r["tau"] == la["tau"] else "not chosen")
                    + (" (shipped)" if r["tau"] == la["tau"] and la["shipped"] else "")
                    + " |"
                )
    rows.extend(_finetune_rows(card))
    for extra in card.get("experiments_not_run", []):
        rows.append(f"| {extra['what']} | {extra['result']} | {extra['verdict']} |")
    return "| experiment | validation result | verdict |\n|---|---|---|\n" + "\n".join(rows)
