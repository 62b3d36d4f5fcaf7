"""The training pipeline replaces the shipped model only if the candidate is better on validation,
and decides before the test split is scored."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="the training pipeline needs the 'train' extra")


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _shipped_graph(models: Path, work: Path) -> Path:
    """The single graph the shipped card was evaluated as, with the card beside it as
    ``--from-graph`` reads it (triage-v3.3 ships as its members: merged again here)."""
    from dermbridge.triage.inference import DEFAULT_CARD
    from dermbridge.triage.training.ensemble_graph import graph_for_card

    card = models / DEFAULT_CARD.name
    rebuilt = graph_for_card(card, work)
    graph = work / json.loads(card.read_text())["model_file"]
    if rebuilt != graph:
        rebuilt.rename(graph)
    shutil.copyfile(card, graph.with_suffix(".json"))
    return graph


def _fitted(score: float) -> dict[str, Any]:
    return {
        "calibration_method": {
            "chosen": "temperature",
            "candidates_on_validation": {"temperature": {"validation_selection_score": score}},
        }
    }


@pytest.mark.parametrize(
    ("candidate", "ships"),
    [(0.870, True), (0.866, True), (0.8655, False), (0.850, False)],
)
def test_a_candidate_ships_only_with_a_clear_validation_gain(candidate: float, ships: bool) -> None:
    from dermbridge.triage.training.pipeline_ship import decision_text, ship_decision

    shipped = {"validation_selection_score": 0.856}
    decision = ship_decision(_fitted(candidate), "triage-v3.1", shipped)
    assert decision["ships"] is ships
    assert decision["gain"] == pytest.approx(candidate - 0.856)
    assert ("NOT SHIPPED" in decision_text(decision)) is not ships
    # --no-ship-gate ships regardless, and says so.
    bypassed = ship_decision(_fitted(candidate), "triage-v3.1", shipped, bypass=True)
    assert bypassed["ships"] and "gate bypassed" in decision_text(bypassed)


def _rates(with_views: float, ood: float) -> dict[str, float]:
    return {"validation_with_views": with_views, "ood_decline": ood}


@pytest.mark.parametrize(
    ("with_views", "ood", "ships"),
    [
        (0.040, 0.970, True),  # 1.3 points fewer declined, out-of-distribution as before
        (0.0435, 0.970, False),  # 0.95 points fewer: under the 1-point drop
        (0.030, 0.955, False),  # 1.8 points less of the OOD set declined
        (0.030, 0.945, False),  # under the 95% OOD target
        (0.060, 0.990, False),  # declines more in-distribution images
    ],
)
def test_an_abstention_only_refit_ships_on_fewer_declines_with_ood_kept(
    with_views: float, ood: float, ships: bool
) -> None:
    """The shipped network and calibration refitted (ADR 0019): the selection score cannot
    move, so the gate judges abstention instead, still before the test split."""
    from dermbridge.triage.training.pipeline_ship import decision_text, ship_decision

    shipped = {"validation_selection_score": 0.856}
    abstention = {"shipped": _rates(0.053, 0.973), "candidate": _rates(with_views, ood)}
    decision = ship_decision(_fitted(0.856), "triage-v3.1", shipped, abstention=abstention)
    assert decision["kind"] == "abstention refit"
    assert decision["ships"] is ships
    assert ("NOT SHIPPED" in decision_text(decision)) is not ships
    assert "capture views" in decision_text(decision)


def test_only_the_same_graph_and_calibration_count_as_the_same_network() -> None:
    from dermbridge.triage.training.pipeline_ship import same_network

    shipped = {"sha256": "a" * 64, "temperature": 1.4, "class_bias": [0.0, 0.1]}
    assert same_network(dict(shipped), shipped)
    assert not same_network({**shipped, "sha256": "b" * 64}, shipped)
    assert not same_network({**shipped, "temperature": 1.41}, shipped)
    assert not same_network({**shipped, "class_bias": [0.0, 0.2]}, shipped)


def test_promotion_shares_a_file_already_shipped_and_refuses_to_overwrite_another_cards(
    tmp_path: Path,
) -> None:
    from dermbridge.triage.inference import sha256_file
    from dermbridge.triage.training.pipeline_ship import promote

    models, staging = tmp_path / "models", tmp_path / "candidate"
    models.mkdir()
    staging.mkdir()
    (models / "net-a.onnx").write_bytes(b"graph A")
    (staging / "v9.onnx").write_bytes(b"graph A")  # a refit of the shipped graph
    (staging / "v9-ood.npz").write_bytes(b"new detectors")
    card = {
        "version": "v9",
        "model_file": "v9.onnx",
        "sha256": sha256_file(staging / "v9.onnx"),
        "ood_file": "v9-ood.npz",
        "ood_sha256": sha256_file(staging / "v9-ood.npz"),
    }
    promote(staging, models, dict(card))
    written = json.loads((models / "v9.json").read_text())
    assert written["model_file"] == "net-a.onnx"  # shared, not copied again
    assert written["ood_file"] == "v9-ood.npz"
    assert not (models / "v9.onnx").exists()
    assert (models / "v9-ood.npz").read_bytes() == b"new detectors"
    assert (models / "v9.sha256").read_text().splitlines()[0].endswith("  net-a.onnx")
    # Another version's card names v9-ood.npz: different bytes must not replace it.
    (models / "v8.json").write_text(json.dumps({"version": "v8", "ood_file": "v9-ood.npz"}))
    (staging / "v9-ood.npz").write_bytes(b"other detectors")
    changed = {**card, "ood_sha256": sha256_file(staging / "v9-ood.npz")}
    with pytest.raises(FileExistsError, match="give the candidate a new VERSION"):
        promote(staging, models, changed)
    assert (models / "v9-ood.npz").read_bytes() == b"new detectors"


def test_a_refit_worse_on_validation_leaves_the_shipped_model_and_scores_no_test(
    tmp_path: Path, ham_dir: Path
) -> None:
    """The pipeline's fast sibling of ``make train``: a refit of the shipped graph on a few rows
    per split (calibration fitted on 40 images) scores below the shipped model on the same
    validation rows, so nothing under models/ changes and the test split is not scored."""
    from dermbridge.triage.inference import DEFAULT_CARD
    from dermbridge.triage.training import pipeline

    models, docs, candidate = tmp_path / "models", tmp_path / "docs", tmp_path / "candidate"
    shutil.copytree(DEFAULT_CARD.parent, models)
    before = _digests(models)
    shipped = json.loads(DEFAULT_CARD.read_text())
    graph = _shipped_graph(models, tmp_path / "graph")
    pipeline.main(
        [
            "--from-graph",
            str(graph),
            "--limit",
            "40",
            "--models-dir",
            str(models),
            "--docs-dir",
            str(docs),
            "--candidate-dir",
            str(candidate),
        ]
    )
    assert _digests(models) == before
    assert not docs.exists()  # no test evaluation, no card rendered
    card = json.loads((candidate / f"{pipeline.VERSION}.json").read_text())
    decision = card["ship_decision"]
    assert decision["ships"] is False and decision["shipped_version"] == shipped["version"]
    assert decision["gain"] < decision["min_gain"]
    assert "evaluation" not in card
    # Both scored on the same 40 validation rows, taking each diagnosis in turn.
    assert 0.0 < decision["shipped_validation_selection_score"] <= 1.0
    chosen = card["calibration_method"]["chosen"]
    assert chosen in card["calibration_method"]["candidates_on_validation"]
    cands = card["calibration_method"]["candidates_on_validation"]
    assert all("calibration_split_ece" in v for v in cands.values())
    # The abstention detectors were fitted on each image and one capture view of it (ADR 0019).
    views = card["abstention"]["capture_views"]
    assert views["train"] == views["calibration"] == 40
    assert 0.0 <= views["calibration_views_abstention_rate"] <= 1.0
    # Each refit compares the rule-out guarantees (ADR 0020); the shipped one is Clopper-Pearson.
    # A 40-row smoke run has too few malignant images for a conformal one, and no lesion ids.
    guarantees = card["rule_out"]["guarantees_compared"]
    assert [g["key"] for g in guarantees if g["shipped"]] == ["clopper_pearson"]
    assert guarantees[0]["threshold"] == card["rule_out_threshold"]
    assert "conformal_lesions" not in {g["key"] for g in guarantees}


def test_a_smoke_run_takes_each_diagnosis_in_turn() -> None:
    from dermbridge.triage.training.data import Record
    from dermbridge.triage.training.pipeline import smoke_rows

    def rec(i: int, dx: str) -> Record:
        return Record(f"L{i}", f"I{i}", dx, "histo", 50.0, "male", "back")

    rows = [rec(i, "nv") for i in range(10)] + [rec(10, "mel"), rec(11, "bcc")]
    picked = smoke_rows(rows, 5)
    assert [r.dx for r in picked] == ["nv", "mel", "bcc", "nv", "nv"]
    assert [r.image_id for r in picked if r.dx == "nv"] == ["I0", "I1", "I2"]
    assert sorted(r.image_id for r in smoke_rows(rows, 50)) == sorted(r.image_id for r in rows)


def test_the_recorded_ensemble_candidate_was_stopped_at_the_gate_before_the_test_split() -> None:
    """The rerun ensemble's candidate card (kept as evidence) shows the rules at work: the logit
    adjustment missed the ECE target on the calibration split, plain temperature was chosen, and
    it fell short of the shipped model on the same validation images, so no test was scored."""
    from dermbridge.triage.training.data import REPO_DIR
    from dermbridge.triage.training.pipeline_fit import choose_calibration
    from dermbridge.triage.training.pipeline_settings import CALIBRATION_MAX_ECE

    path = REPO_DIR / "docs/benchmarks/triage-ensemble-rerun-not-shipped.json"
    card = json.loads(path.read_text())
    method = card["calibration_method"]
    cands = method["candidates_on_validation"]
    la = cands["temperature_and_logit_adjustment"]
    assert la["calibration_split_ece"] > CALIBRATION_MAX_ECE
    eces = {name: v["calibration_split_ece"] for name, v in cands.items()}
    assert choose_calibration(cands, eces) == method["chosen"] == "temperature"
    decision = card["ship_decision"]
    assert decision["ships"] is False and decision["gain"] < decision["min_gain"]
    assert "evaluation" not in card


def _fitted_with_auroc(score: float, auroc: float) -> dict[str, Any]:
    fitted = _fitted(score)
    fitted["calibration_method"]["candidates_on_validation"]["temperature"][
        "validation_malignant_auroc"
    ] = auroc
    return fitted


@pytest.mark.parametrize(
    ("score", "auroc", "views", "with_views", "ood", "ships", "failed"),
    [
        # Lite1 + triage-v2 as scored before the rule was written: 0.858, AUROC 0.923.
        (0.858, 0.923, 0.900, 0.035, 0.970, True, None),
        (0.8515, 0.923, 0.900, 0.035, 0.970, True, None),  # 0.0045 lower: non-inferior
        (0.850, 0.923, 0.900, 0.035, 0.970, False, "selection_score_non_inferior"),
        (0.860, 0.918, 0.900, 0.035, 0.970, False, "malignant_auroc_gain"),
        (0.860, 0.923, 0.894, 0.035, 0.970, False, "capture_views_auroc_kept"),
        (0.860, 0.923, 0.900, 0.043, 0.970, False, "declines_kept"),
        (0.860, 0.923, 0.900, 0.035, 0.945, False, "ood_kept"),
        (0.860, 0.923, 0.900, 0.035, 0.955, False, "ood_kept"),  # 1.8 points less than shipped
    ],
)
def test_an_ensemble_keeping_the_shipped_network_ships_when_non_inferior_with_better_ranking(
    score: float,
    auroc: float,
    views: float,
    with_views: float,
    ood: float,
    ships: bool,
    failed: str | None,
) -> None:
    """ADR 0018's second amendment: non-inferior selection score (at most 0.005 lower), malignant
    AUROC at least 0.005 higher, capture-view AUROC and abstention kept."""
    from dermbridge.triage.training.pipeline_ship import decision_text, ship_decision

    shipped = {"validation_selection_score": 0.856, "validation_malignant_auroc": 0.914}
    ensemble = {
        "abstention": {"shipped": _rates(0.032, 0.973), "candidate": _rates(with_views, ood)},
        "views_malignant_auroc": {"shipped": 0.902, "candidate": views},
    }
    decision = ship_decision(
        _fitted_with_auroc(score, auroc), "triage-v3.2", shipped, ensemble=ensemble
    )
    assert decision["kind"] == "ensemble with the shipped network"
    assert decision["ships"] is ships
    text = decision_text(decision)
    assert ("NOT SHIPPED" in text) is not ships
    if failed is not None:
        assert not decision["checks"][failed] and f"failed: {failed}" in text
    # The same numbers for a candidate that is not such an ensemble need the +0.010 gain.
    assert not ship_decision(_fitted_with_auroc(score, auroc), "triage-v3.2", shipped)["ships"]


def test_only_an_ensemble_graph_with_the_shipped_network_as_a_member_is_judged_as_one() -> None:
    from dermbridge.triage.training.pipeline_ship import keeps_shipped_network

    shipped = {"sha256": "a" * 64}
    members = [{"sha256": "c" * 64}, {"sha256": "a" * 64}]
    ensemble = {"sha256": "b" * 64, "training": {"ensemble": members}}
    assert keeps_shipped_network(ensemble, shipped)
    # Another network, an ensemble of others, or the shipped graph itself: the usual rules.
    assert not keeps_shipped_network({"sha256": "b" * 64, "training": {}}, shipped)
    others = {"sha256": "b" * 64, "training": {"ensemble": [{"sha256": "c" * 64}]}}
    assert not keeps_shipped_network(others, shipped)
    assert not keeps_shipped_network(
        {"sha256": "a" * 64, "training": {"ensemble": members}}, shipped
    )


def test_only_a_copy_quantized_from_the_shipped_graph_counts_as_one() -> None:
    from dermbridge.triage.training.pipeline_ship import quantized_copy
    from dermbridge.triage.training.quantize import FULL_RANGE_WEIGHTS, settings

    shipped = {"sha256": "a" * 64}
    made = {"sha256": "a" * 64, "settings": settings()}
    copy = {"sha256": "b" * 64, "training": {"quantized_from": made}}
    assert quantized_copy(copy, shipped)
    # Quantized from another model, not quantized, or the shipped graph itself.
    other = {"sha256": "b" * 64, "training": {"quantized_from": {**made, "sha256": "c" * 64}}}
    assert not quantized_copy(other, shipped)
    assert not quantized_copy({"sha256": "b" * 64, "training": {}}, shipped)
    assert not quantized_copy({**copy, "sha256": "a" * 64}, shipped)
    # Only ADR 0022's settings count: quantize --full-range makes a copy for comparison, and
    # a record without settings is not a copy quantize.py made.
    full = {**made, "settings": settings(False)}
    assert settings(False)["weights"] == FULL_RANGE_WEIGHTS
    assert not quantized_copy({**copy, "training": {"quantized_from": full}}, shipped)
    bare = {"sha256": "a" * 64}
    assert not quantized_copy({**copy, "training": {"quantized_from": bare}}, shipped)


@pytest.mark.parametrize(
    ("score", "auroc", "views", "with_views", "ood", "ships", "failed"),
    [
        (0.852, 0.925, 0.923, 0.034, 0.969, True, None),  # as the shipped model
        (0.8475, 0.9205, 0.9185, 0.034, 0.969, True, None),  # each 0.0045 lower
        (0.847, 0.920, 0.918, 0.034, 0.969, True, None),  # each exactly 0.005 lower
        (0.846, 0.925, 0.923, 0.034, 0.969, False, "selection_score_non_inferior"),
        (0.852, 0.919, 0.923, 0.034, 0.969, False, "malignant_auroc_non_inferior"),
        (0.852, 0.925, 0.917, 0.034, 0.969, False, "capture_views_auroc_kept"),
        (0.852, 0.925, 0.923, 0.045, 0.969, False, "declines_kept"),
        (0.852, 0.925, 0.923, 0.034, 0.945, False, "ood_kept"),
    ],
)
def test_an_int8_copy_ships_when_non_inferior_without_a_gain(
    score: float,
    auroc: float,
    views: float,
    with_views: float,
    ood: float,
    ships: bool,
    failed: str | None,
) -> None:
    """ADR 0022: a copy made for latency needs no gain, only to lose at most 0.005 of selection
    score and malignant AUROC (plain and capture views) with abstention kept."""
    from dermbridge.triage.training.pipeline_ship import decision_text, ship_decision

    shipped = {"validation_selection_score": 0.852, "validation_malignant_auroc": 0.925}
    compared = {
        "abstention": {"shipped": _rates(0.034, 0.969), "candidate": _rates(with_views, ood)},
        "views_malignant_auroc": {"shipped": 0.923, "candidate": views},
    }
    decision = ship_decision(
        _fitted_with_auroc(score, auroc), "triage-v3.3", shipped, quantized=compared
    )
    assert decision["kind"] == "INT8 copy of the shipped network"
    assert decision["ships"] is ships
    text = decision_text(decision)
    assert text.startswith("INT8 copy of triage-v3.3's network")
    assert ("NOT SHIPPED" in text) is not ships
    if failed is not None:
        assert not decision["checks"][failed] and f"failed: {failed}" in text
    assert "ADR 0022" in decision["rule"]


def test_an_ensemble_with_the_shipped_network_is_judged_by_its_own_rule_before_the_test_split(
    tmp_path: Path, ham_dir: Path
) -> None:
    """Fast sibling of shipping an ensemble: the shipped graph merged with itself (what
    ensemble_graph.py writes, members recorded beside it) refitted on a few rows per split is
    judged by ADR 0018's non-inferiority rule, with both models' capture-view AUROC and
    abstention measured on the same validation rows, and the test split is not scored."""
    from dermbridge.triage.inference import DEFAULT_CARD, sha256_file
    from dermbridge.triage.training import pipeline
    from dermbridge.triage.training.ensemble_graph import merge

    models, docs, candidate = tmp_path / "models", tmp_path / "docs", tmp_path / "candidate"
    shutil.copytree(DEFAULT_CARD.parent, models)
    before = _digests(models)
    graph = _shipped_graph(models, tmp_path / "graph")
    merged = tmp_path / "ensemble.onnx"
    merge(graph, [graph], merged)
    parent = json.loads(graph.with_suffix(".json").read_text())
    member = {"name": parent["version"], "sha256": sha256_file(graph), "training": {}}
    training = {**parent["training"], "ensemble": [member, member]}
    merged.with_suffix(".json").write_text(
        json.dumps({"version": "ensemble", "training": training})
    )
    args = ["--from-graph", str(merged), "--limit", "40", "--models-dir", str(models)]
    pipeline.main([*args, "--docs-dir", str(docs), "--candidate-dir", str(candidate)])
    decision = json.loads((candidate / f"{pipeline.VERSION}.json").read_text())["ship_decision"]
    assert decision["kind"] == "ensemble with the shipped network"
    assert decision["ships"] is all(decision["checks"].values())
    views = decision["views_malignant_auroc"]
    assert set(views) == {"shipped", "candidate"}
    assert all(0.0 <= v <= 1.0 for v in views.values())
    rates = decision["abstention"]["candidate"]
    assert 0.0 <= rates["validation_with_views"] <= 1.0 and 0.0 <= rates["ood_decline"] <= 1.0
    # The same network twice ranks no better than once: the AUROC check fails, nothing ships.
    assert decision["checks"]["malignant_auroc_gain"] is False and decision["ships"] is False
    assert _digests(models) == before
    assert not docs.exists()


def test_an_ensemble_ships_as_its_members_and_shares_a_network_already_shipped(
    tmp_path: Path, ham_dir: Path
) -> None:
    """ADR 0021: the pipeline stages an ensemble graph's members (the first exported beside the
    graph by ensemble_graph.py, the others the graphs it was given), only if they merge back
    into the graph bit for bit; promotion then copies the new member, shares the network
    already shipped, never writes the merged graph, and the promoted card loads and assesses
    exactly as the graph does."""
    from dermbridge.triage.inference import MODELS_DIR, TriageModel, load_model, sha256_file
    from dermbridge.triage.training.ensemble_graph import merge, stage_members
    from dermbridge.triage.training.pipeline_ship import promote

    work, staging, models = tmp_path / "work", tmp_path / "staging", tmp_path / "models"
    for folder in (work, staging, models):
        folder.mkdir()
    graph = work / "ensemble.onnx"
    shutil.copyfile(MODELS_DIR / "triage-v3.3-member0.onnx", graph.with_suffix(".member0.onnx"))
    v2 = MODELS_DIR / "triage-v2.onnx"
    merge(graph.with_suffix(".member0.onnx"), [v2], graph)
    members = [
        {"name": "lite1", "input": [160, 120]},
        {"name": "triage-v2", "graph": v2.name, "graph_path": str(v2), "input": [160, 120]},
    ]
    staged = stage_members(graph, members, staging, "triage-v9")
    assert staged is not None
    assert [m["file"] for m in staged] == ["triage-v9-member0.onnx", "triage-v2.onnx"]
    assert staged[1]["sha256"] == sha256_file(v2)
    # Members that do not rebuild the graph (here, in the other order) are not staged.
    assert stage_members(graph, members[::-1], tmp_path / "work", "triage-v9") is None
    # A member recorded by name only is looked up among the shipped models.
    by_name = [members[0], {k: v for k, v in members[1].items() if k != "graph_path"}]
    assert stage_members(graph, by_name, staging, "triage-v9") == staged
    missing = [members[0], {**members[1], "graph": "absent.onnx", "graph_path": "/absent.onnx"}]
    assert stage_members(graph, missing, staging, "triage-v9") is None

    shipped = json.loads((MODELS_DIR / "triage-v3.2.json").read_text())
    for name in ("triage-v2.onnx", shipped["ood_file"]):
        shutil.copyfile(MODELS_DIR / name, models / name)
    shutil.copyfile(MODELS_DIR / shipped["ood_file"], staging / shipped["ood_file"])
    card = {**json.loads((MODELS_DIR / "triage-v3.3.json").read_text()), "version": "triage-v9"}
    card.update(model_file="triage-v9.onnx", sha256=sha256_file(graph), members=staged)
    before = sha256_file(models / "triage-v2.onnx")
    promote(staging, models, card)
    assert sorted(p.name for p in models.glob("*.onnx")) == [
        "triage-v2.onnx",
        "triage-v9-member0.onnx",
    ]
    assert sha256_file(models / "triage-v2.onnx") == before
    lines = (models / "triage-v9.sha256").read_text().splitlines()
    assert [line.split()[1] for line in lines] == [
        "triage-v9-member0.onnx",
        "triage-v2.onnx",
        shipped["ood_file"],
    ]
    promoted = load_model(models / "triage-v9.json")
    single = TriageModel(promoted.card, [graph], models / shipped["ood_file"])
    from PIL import Image

    from dermbridge.triage.preprocessing import to_rgb_array

    with Image.open(ham_dir / "images" / "ISIC_0027419.jpg") as img:
        frame = to_rgb_array(img)
    assert promoted.assess_rgb(frame) == single.assess_rgb(frame)
