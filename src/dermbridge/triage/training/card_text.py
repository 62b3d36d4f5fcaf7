"""The model card (docs/model-card.md) as a template filled from the card JSON.

Generated, so every number in it comes from the pipeline run that produced the shipped model.
render() lays the card out; its longer sections are in card_sections_results.py,
card_sections_captures.py and card_sections_experiments.py, and the targets and number
formatting in card_format.py (re-exported here for existing callers).
"""

from __future__ import annotations

from typing import Any

from dermbridge.triage.labels import CLASS_NAMES, CLASSES
from dermbridge.triage.training.card_format import (
    SMALL_GROUP_IMAGES,
    SMALL_GROUP_MALIGNANT,
    TARGETS,
    _met,
    _num,
    _target_row,
    _with_ci,
)
from dermbridge.triage.training.card_sections_captures import (
    _band_text,
    _captures_text,
    _guarantees_text,
    _non_skin_text,
)
from dermbridge.triage.training.card_sections_experiments import (
    _experiments_text,
    _finetune_rows,
    _logit_adjustment_text,
)
from dermbridge.triage.training.card_sections_results import (
    _gaps_text,
    _made_by,
    _refit_text,
    _subgroup_table,
    _top_text,
    _tried_text,
)

__all__ = [
    "SMALL_GROUP_IMAGES",
    "SMALL_GROUP_MALIGNANT",
    "TARGETS",
    "_band_text",
    "_captures_text",
    "_experiments_text",
    "_finetune_rows",
    "_gaps_text",
    "_logit_adjustment_text",
    "_made_by",
    "_met",
    "_non_skin_text",
    "_num",
    "_refit_text",
    "_subgroup_table",
    "_target_row",
    "_top_text",
    "_tried_text",
    "_with_ci",
    "render",
]


def _loss_text(tr: dict[str, Any]) -> str:
    """The training loss, as the run's config names it (triage-v2's configs predate the key)."""
    if tr.get("loss", "class_balanced") == "logit_adjusted":
        return (
            "logit-adjusted cross-entropy (Menon et al. 2021: logits + "
            f"{tr.get('la_tau', 1.0)}·log training prior, no class weights)"
        )
    return f"class-weighted cross-entropy (weight ∝ frequency^-{tr['class_weight_power']})"


def _colour_text(tr: dict[str, Any]) -> str:
    if tr.get("colour", "standard") == "strong":
        return (
            "strong colour jitter (brightness, ±20% white-balance gains, contrast, saturation, "
            "tone curve, colour cast: `augment.STRONG_COLOUR`)"
        )
    return "brightness/contrast/saturation/white-balance jitter"


def _refreshed(card: dict[str, Any]) -> str:
    when = card.get("captures_refreshed")
    if not when:
        return ""
    return (
        f" (rescored on {when}, after the model was fitted: a change to the upload pipeline's "
        f"framing, or a capture set added; the notes say which. The model, its thresholds and "
        f"the rest of this card are those of {card['created']})"
    )


def _calibration_rule_text(card: dict[str, Any]) -> str:
    rule = card["calibration_method"].get("rule")
    if rule:
        return (
            "Plain temperature scaling, temperature scaling with a per-class logit bias "
            "(Alexandari et al. 2020, which undoes the prior shift of a class-weighted loss) and "
            f"the post-hoc logit adjustment below were each fitted. Rule: {rule}"
        )
    # Cards up to triage-v3.1.
    return (
        "Plain temperature scaling and temperature scaling with a per-class logit bias "
        "(Alexandari et al. 2020, which undoes the prior shift of the class-weighted loss) were "
        "both fitted; the one with the lower NLL on the validation split is kept, unless the two "
        "NLLs are within 1% of each other, when the higher validation balanced accuracy decides"
    )


def _pct(v: float) -> str:
    return f"{v:.1%}"


def _ship_decision_text(card: dict[str, Any]) -> str:
    d = card.get("ship_decision")
    if not d or d.get("shipped_version") is None:
        return ""
    how = " (gate bypassed with --no-ship-gate)" if d.get("bypassed") else ""
    if d.get("kind") == "abstention refit":
        cand, shipped = d["abstention"]["candidate"], d["abstention"]["shipped"]
        return (
            f"\n- **Ship decision** (validation split, before the test split was scored){how}: "
            f"an abstention-only refit of {d['shipped_version']}'s network and calibration "
            f"(selection score {d['validation_selection_score']:.3f} against "
            f"{d['shipped_validation_selection_score']:.3f}, {d['gain']:+.4f}). It declines "
            f"{_pct(cand['validation'])} of validation images, {_pct(cand['validation_capture_views'])} "
            f"of their capture views ({_pct(cand['validation_with_views'])} together) against "
            f"{_pct(shipped['validation'])}, {_pct(shipped['validation_capture_views'])} "
            f"({_pct(shipped['validation_with_views'])}) for {d['shipped_version']}, and "
            f"{_pct(cand['ood_decline'])} of the out-of-distribution set built from the "
            f"validation split against {_pct(shipped['ood_decline'])}. Rule: {d['rule']}."
        )
    return (
        f"\n- **Ship decision** (validation split, before the test split was scored){how}: "
        f"selection score {d['validation_selection_score']:.3f} against "
        f"{d['shipped_validation_selection_score']:.3f} for {d['shipped_version']} on the same "
        f"images ({d['gain']:+.3f}). Rule: {d['rule']}."
    )


def _checkpoint_text(tr: dict[str, Any]) -> str:
    first = (tr.get("ensemble") or [{}])[0]
    if first.get("checkpoint") == "final.pt":
        return (
            f"Checkpoint: the run's last epoch, {tr['selected_epoch']} (`final.pt`), chosen for "
            "the ensemble on the validation split rather than the epoch with the member's own "
            "best mean of balanced accuracy and malignant AUROC there (notes)."
        )
    return (
        f"Selected checkpoint: epoch {tr['selected_epoch']} (best mean of balanced accuracy and "
        "malignant\n  AUROC on the validation split)."
    )


def _runtime_text(card: dict[str, Any]) -> str:
    members = card.get("members")
    if not members:
        return f"ONNX (`{card['model_file']}`)"
    files = " and ".join(f"`{m['file']}`" for m in members)
    return (
        f"ONNX: the ensemble's {len(members)} member graphs ({files}; a network already "
        "shipped is not committed again), whose logits are averaged exactly as in the single "
        f"graph the card was fitted and evaluated as (`{card['model_file']}`, the model sha256 "
        "above, which `ensemble_graph.merge` of the members rebuilds bit for bit), run"
    )


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
- `make train`: fine-tune (resumable from `var/triage/run/last.pt`), export, calibrate, then
  ship only if the refit beats the shipped model on the validation split (otherwise it stops
  before the test split, the shipped files unchanged; `--no-ship-gate` reproduces the shipped
  model), evaluate, regenerate this card and `docs/img/triage-*.png` (needs the `train` extra and
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
  adds its validation row to `training/experiments.json`, which the table below reads. Several
  `--checkpoint`s, and `--graph` for an exported network such as `models/triage-v2.onnx`, score an
  ensemble (each member at its own input size); `python -m
  dermbridge.triage.training.ensemble_graph` builds one as a single graph for the pipeline's
  `--from-graph`. A full run from ImageNet weights: `python -m dermbridge.triage.training.train
  --epochs 12 --loss logit_adjusted --colour strong --input-size 200x150 --out
  var/triage/exp/NAME` (85 min on the two shared cores at low load, before training ran
  channels-last); `--backbone efficientnet-lite1` or `efficientnet-lite2` trains the larger
  EfficientNet-Lite1 or Lite2 from its ImageNet weights instead (16 epochs of Lite1 at 160x120:
  42 min; 12 epochs of Lite1 or Lite2 at 200x150, channels-last: 38-39 min).

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
  {_loss_text(tr)}, augmentation:
  rotation ±45°, flips, zoom 0.8–1.1, shifts, {_colour_text(tr)}.
  {ema_text}{_checkpoint_text(tr)} Seed {tr["seed"]}; deterministic algorithms.
{_refit_text(card)}- Runtime: {
        _runtime_text(card)
    } with onnxruntime, no PyTorch. Integrity: sha256 of
  each graph and of the detector arrays are checked at load; a missing or corrupt file gives "no
  AI assessment available", never an error.
- **Calibration:** {calib_text} fitted on the calibration split, T = {card["temperature"]:.3f}
  (calibration-split ECE {card["calibration_split"]["ece_before"]:.3f} →
  {card["calibration_split"]["ece_after"]:.3f}). {_calibration_rule_text(card)} ({cands}).{
        _logit_adjustment_text(card)
    }{_ship_decision_text(card)}
- **Rule-out threshold:** malignant probability {card["rule_out_threshold"]:.4f}, the highest
  threshold at which the lower two-sided 95% Clopper–Pearson bound of malignant sensitivity on the
  calibration split is ≥ {ro["target_lower_bound"]} ({ro["calibration_malignant_caught"]} of
  {ro["calibration_malignant_total"]} malignant images caught, lower bound
  {ro["sensitivity_lower_95_clopper_pearson"]:.3f}). Images of one lesion are not independent, so
  this bound is somewhat optimistic.{_guarantees_text(card)}
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
  calibration-split distances ({
        ab["colour_threshold"]:.1f}); (3) a Mahalanobis detector on the 1280-d penultimate
  features (class means and shrunk shared covariance fitted on the training split; threshold the
  {ab["mahalanobis_quantile_of_calibration"]:.0%} quantile of calibration-split distances,
  {ab["mahalanobis_threshold"]:.1f}) declines images unlike the training dermoscopy{_top_text(ab)}.{
        notes
    }

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
| melanoma sensitivity (not low) at the shipped operating point | {
        _with_ci(ev, "melanoma_sensitivity")
    } | | |
| melanoma in the high band | {_with_ci(ev, "melanoma_high_band")} | | |
| latency p50 / p95 (one thread; assess(): resize, gates, network, detectors; no JPEG decode) | {
        ev["latency_ms_p50"]:.1f} / {ev["latency_ms_p95"]:.1f} ms | <= 30 ms | see `make bench` |

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
cut from the detected field of view (`imaging/pipeline/aperture.py`: a least-squares circle
through the rim of the dark surround, or a robust fit when a dark lesion, hair or vignette
touching the rim bites into the disc; then the largest 4:3 rectangle inside the circle);
"old framing" is the whole photo shrunk, as before. Made by `python -m dermbridge.triage.capture_bench` (frames kept in
`var/triage/`), rescored here with this model{_refreshed(card)}.

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
| any-cancer sensitivity / benign specificity | {_num(ev["sensitivity"])} / {
        _num(ev["specificity"])
    } | DERM (Skin Analytics, April 2022, 29,453 lesions): 97% / 71% |
| 7-class accuracy | {
        _num(ev["accuracy"])
    } | MedMNIST+ DermaMNIST ~0.79–0.82 at 128 px (image-level splits, which leak lesions) |
| 7-class balanced accuracy | {
        _num(ev["balanced_accuracy"])
    } | ISIC 2018 task 3 best 0.885 (ensembles, full resolution) |

The anchors use other data, populations, resolutions and protocols; they orient, they do not
compare like with like. DERM's specificity is on real referral populations with a different case
mix; our benign set is dominated by naevi.

## Known limits
- Trained on 200x150{
        ""
        if (card["input"]["width"], card["input"]["height"]) == (200, 150)
        else f" (used at {card['input']['width']}x{card['input']['height']})"
    } downsampled images; fine structures visible at full
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
- {
        "An ensemble of " + str(len(card["training"]["ensemble"])) + " networks"
        if card["training"].get("ensemble")
        else "Single model"
    }, few CPU epochs; see the targets table for what is and is not met.
"""
