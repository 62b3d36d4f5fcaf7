"""Model card sections on the band rule, phone-dermatoscope captures and non-skin pictures."""

from __future__ import annotations

from typing import Any

from dermbridge.triage.training.card_format import _num, _with_ci


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


def _guarantees_text(card: dict[str, Any]) -> str:
    """The rule-out threshold under each guarantee, compared on validation (triage-v3.3 on)."""
    rows = card["rule_out"].get("guarantees_compared")
    if not rows:
        return ""
    table = "\n  ".join(
        f"| {r['guarantee']}{' (shipped)' if r['shipped'] else ''} | {r['threshold']:.4f} | "
        f"{r['calibration_malignant_caught']} of {r['calibration_malignant_total']} | "
        f"{_num(r['validation_sensitivity'])} | {_num(r['validation_specificity'])} | "
        f"{_num(r['validation_melanoma_sensitivity'])} |"
        for r in rows
    )
    return f"""
  Guarantees compared (issue 15 allows a conformal or a Clopper–Pearson one; ADR 0020). A split
  conformal threshold (the k-th lowest calibration malignant score, k = floor(0.05 (n + 1)))
  promises sensitivity ≥ 0.95 only on average over calibration sets; the Clopper–Pearson
  threshold promises it with 97.5% confidence for the threshold actually fixed, which is what a
  discharge suggestion needs, so it ships. Validation split, the band rule as shipped:

  | guarantee | threshold | calibration malignant caught | sensitivity | specificity | melanoma not low |
  |---|---|---|---|---|---|
  {table}"""


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
            f"| {w}x{h} ({w * h / 1e6:.0f} MP), `{r['frames']}` | {r['plain']['n']} "
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
