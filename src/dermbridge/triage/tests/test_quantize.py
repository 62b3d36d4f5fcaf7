"""INT8 copies of the shipped networks (training/quantize.py, ADR 0022): reproducible, close to
the float networks, written as members the pipeline stages, and judged by their own
non-inferiority rule before the test split is scored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dermbridge.triage.tests.conftest import ham_frames

pytest.importorskip("torch", reason="the training pipeline needs the 'train' extra")
pytest.importorskip("onnx", reason="quantization needs the onnx package")


def _logits(graph: Path, frames: np.ndarray) -> np.ndarray:
    from dermbridge.triage.training.pipeline_graph import _run_graph

    return _run_graph(graph, frames, 16)[0]


def test_a_quantized_network_is_reproducible_and_ranks_as_the_float_one(
    tmp_path: Path, ham_dir: Path
) -> None:
    """Fast sibling of ``quantize.py`` on the shipped model: triage-v2's network quantized
    with 16 calibration frames gives the same file twice, under 40% of the float graph's size,
    and on 32 other frames probabilities close to the float graph's (with 256 frames, as
    shipped, 99% of validation images keep their top class: ADR 0022)."""
    from dermbridge.triage.inference import MODELS_DIR, sha256_file
    from dermbridge.triage.labels import MALIGNANT_INDICES
    from dermbridge.triage.metrics import softmax
    from dermbridge.triage.training.quantize import quantize_network

    frames = ham_frames(ham_dir, 48)
    source = MODELS_DIR / "triage-v2.onnx"
    first = quantize_network(source, tmp_path / "a.onnx", frames[:16])
    second = quantize_network(source, tmp_path / "b.onnx", frames[:16])
    assert sha256_file(first) == sha256_file(second)
    assert first.stat().st_size < 0.4 * source.stat().st_size
    fp, q = softmax(_logits(source, frames[16:])), softmax(_logits(first, frames[16:]))
    # Measured here: mean 0.013, largest 0.11-0.15, malignant 0.07-0.10, top class 28 of 32.
    assert np.abs(fp - q).mean() < 0.04
    assert np.abs(fp - q).max() < 0.3
    malignant = list(MALIGNANT_INDICES)
    assert np.abs(fp[:, malignant].sum(1) - q[:, malignant].sum(1)).max() < 0.2
    assert np.mean(fp.argmax(1) == q.argmax(1)) >= 0.75


def test_an_ensemble_is_quantized_into_members_the_pipeline_stages(
    tmp_path: Path, ham_dir: Path
) -> None:
    """``quantize_card`` on a two-member card writes the INT8 graph, its first member beside it
    and the second as ``<graph name>-member1.onnx``, and a card-like JSON naming the model it was
    quantized from (each member keeping its source's training record); the pipeline's
    ``stage_members`` accepts them, as they merge back into the graph bit for bit."""
    from dermbridge.triage.inference import MODELS_DIR, sha256_file
    from dermbridge.triage.training.ensemble_graph import stage_members
    from dermbridge.triage.training.quantize import quantize_card

    models = tmp_path / "models"
    models.mkdir()
    shutil.copyfile(MODELS_DIR / "triage-v2.onnx", models / "triage-v2.onnx")
    card = json.loads((MODELS_DIR / "triage-v3.3.json").read_text())
    v2 = {"file": "triage-v2.onnx", "sha256": sha256_file(models / "triage-v2.onnx")}
    card["members"] = [
        {**v2, "input": [160, 120], "name": "first"},
        {**v2, "input": [160, 120], "name": "second"},
    ]
    card["training"] = {
        "epochs": 3,
        "ensemble": [
            {"name": "first", "training": {"epochs": 1}},
            {"name": "second", "training": {"epochs": 2}},
        ],
    }
    card_path = models / "triage-v8.json"
    card_path.write_text(json.dumps(card))
    frames = ham_frames(ham_dir, 6)
    sizes: list[tuple[int, int]] = []

    def frames_at(size: tuple[int, int]) -> np.ndarray:
        sizes.append(size)
        return frames

    out = tmp_path / "int8" / "triage-v9.onnx"
    parent = quantize_card(card_path, out, frames_at, n_frames=4)
    assert sizes == [(160, 120), (160, 120)]
    assert json.loads(out.with_suffix(".json").read_text()) == parent
    source = parent["training"]["quantized_from"]
    assert source["version"] == card["version"] and source["sha256"] == card["sha256"]
    # What this copy was made with (the pipeline's default is 256), 7-bit weights as shipped.
    assert source["settings"]["calibration_frames"] == 4
    assert source["settings"]["weights"] == "int8, per output channel, range reduced to 7 bits"
    members = parent["training"]["ensemble"]
    assert [m["name"] for m in members] == ["first-int8", "second-int8"]
    assert [m["training"] for m in members] == [{"epochs": 1}, {"epochs": 2}]
    assert all(m["quantized_from"]["sha256"] == v2["sha256"] for m in members)
    assert out.with_suffix(".member0.onnx").is_file()
    assert members[1]["graph"] == "triage-v9-member1.onnx"
    # A full-range copy written beside it (quantize --full-range's default path) leaves the
    # 7-bit copy's files alone.
    full = quantize_card(card_path, out.with_name("triage-v9-full-range.onnx"), frames_at, 4, False)
    assert full["training"]["ensemble"][1]["graph"] == "triage-v9-full-range-member1.onnx"
    staging = tmp_path / "staging"
    staging.mkdir()
    staged = stage_members(out, members, staging, "triage-v9")
    assert staged is not None
    assert [m["file"] for m in staged] == ["triage-v9-member0.onnx", "triage-v9-member1.onnx"]
    assert [m["sha256"] for m in staged] == [m["sha256"] for m in members]


def test_a_single_network_card_is_quantized_into_one_graph_and_described_as_a_copy(
    tmp_path: Path, ham_dir: Path
) -> None:
    """A card with one graph (triage-v3.2's, triage-v2's network) gives one INT8 graph and no
    members, and a card fitted on it describes itself as the INT8 copy, not as a reuse of the
    network unchanged."""
    from dermbridge.triage.inference import MODELS_DIR
    from dermbridge.triage.training import card_sections_results
    from dermbridge.triage.training.quantize import quantize_card

    models = tmp_path / "models"
    models.mkdir()
    shutil.copyfile(MODELS_DIR / "triage-v2.onnx", models / "triage-v2.onnx")
    card = json.loads((MODELS_DIR / "triage-v3.2.json").read_text())
    (models / "triage-v3.2.json").write_text(json.dumps(card))
    frames = ham_frames(ham_dir, 4)
    out = tmp_path / "int8" / "triage-v9.onnx"
    parent = quantize_card(models / "triage-v3.2.json", out, lambda size: frames, 4)
    assert out.is_file() and not out.with_suffix(".member0.onnx").exists()
    assert "ensemble" not in parent["training"]
    assert parent["training"]["quantized_from"]["version"] == "triage-v3.2"
    # --full-range (ADR 0022's comparison): other weights, recorded as such.
    full = quantize_card(
        models / "triage-v3.2.json",
        tmp_path / "full" / "triage-v9.onnx",
        lambda size: frames,
        50,
        reduce_range=False,
    )
    settings = full["training"]["quantized_from"]["settings"]
    assert settings["weights"] == "int8, per output channel, full 8-bit range"
    assert settings["calibration_frames"] == 4  # asked for 50, the split gave 4
    assert (tmp_path / "full" / "triage-v9.onnx").read_bytes() != out.read_bytes()
    fitted = {
        **card,
        "version": "triage-v9",
        "training": {**parent["training"], "network_from": "x"},
    }
    text = card_sections_results._refit_text(fitted)
    assert "**`triage-v9` is the INT8 copy of `triage-v3.2`'s networks**" in text
    assert "unchanged" not in text


def test_a_card_whose_networks_do_not_match_its_training_records_is_refused(
    tmp_path: Path,
) -> None:
    from dermbridge.triage.inference import MODELS_DIR
    from dermbridge.triage.training.quantize import quantize_card

    card = json.loads((MODELS_DIR / "triage-v3.3.json").read_text())
    one_graph = {k: v for k, v in card.items() if k != "members"}  # an ensemble as one graph
    renamed = {**card, "members": [{**card["members"][0], "name": "other"}, card["members"][1]]}

    def never_called(size: tuple[int, int]) -> np.ndarray:
        raise AssertionError("a refused card is never quantized")

    for bad, reason in ((one_graph, "shipped as its members"), (renamed, "does not match")):
        path = tmp_path / "card.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=reason):
            quantize_card(path, tmp_path / "out.onnx", never_called)
    assert not (tmp_path / "out.onnx").exists()


def test_the_card_of_an_int8_copy_renders_whatever_rule_shipped_it() -> None:
    """An abstention refit of the INT8 copy, or a run with no shipped model, records no shipped
    model's validation numbers; its card still renders (the student sentence then compares with
    its own validation AUROC)."""
    from dermbridge.triage.inference import DEFAULT_CARD
    from dermbridge.triage.training import card_text

    card = json.loads(DEFAULT_CARD.read_text())
    for decision in (
        {"ships": True, "validation_selection_score": 0.85, "shipped_version": None},
        {**card["ship_decision"], "kind": "abstention refit", "shipped_validation": None},
    ):
        text = card_text.render({**card, "ship_decision": decision})
        assert "Distilled into one network (`student-distilled-from-triage-v3.3`" in text


def test_an_int8_copy_of_the_shipped_model_is_judged_by_its_own_rule_before_the_test_split(
    tmp_path: Path, ham_dir: Path
) -> None:
    """Fast sibling of ``quantize.py`` then ``pipeline --from-graph``: the shipped model's
    networks quantized on a few frames and refitted on a few rows per split are judged by ADR
    0022's rule, with both models' capture-view AUROC and abstention measured on the same
    validation rows. On 40 rows either verdict can happen: a copy that does not ship leaves
    the shipped files as they were and no test split scored; one that ships is promoted as its
    two INT8 members (the shipped folder is a copy)."""
    from dermbridge.triage.inference import DEFAULT_CARD
    from dermbridge.triage.training import pipeline
    from dermbridge.triage.training.quantize import quantize_card

    models, docs, candidate = tmp_path / "models", tmp_path / "docs", tmp_path / "candidate"
    shutil.copytree(DEFAULT_CARD.parent, models)
    frames = ham_frames(ham_dir, 8)
    out = tmp_path / "int8" / f"{pipeline.VERSION}.onnx"
    # The shipped card is itself an INT8 copy: quantizing it again is refused.
    with pytest.raises(ValueError, match=r"already the INT8 copy of triage-v3\.3"):
        quantize_card(models / DEFAULT_CARD.name, out, lambda size: frames, 8)
    # A models folder whose shipped card is a float ensemble (triage-v3.3's, as before
    # triage-v3.4 shipped): its INT8 copy is judged against it.
    shutil.copyfile(models / "triage-v3.3.json", models / DEFAULT_CARD.name)
    quantize_card(models / DEFAULT_CARD.name, out, lambda size: frames, 8)
    before = {p.name for p in models.iterdir()}
    args = ["--from-graph", str(out), "--limit", "40", "--models-dir", str(models)]
    pipeline.main([*args, "--docs-dir", str(docs), "--candidate-dir", str(candidate)])
    card_path = candidate / f"{pipeline.VERSION}.json"
    if not card_path.exists():  # shipped: promoted into the copy of the models folder
        card_path = models / f"{pipeline.VERSION}.json"
    card = json.loads(card_path.read_text())
    if not card["ship_decision"]["ships"]:
        assert not docs.exists() and {p.name for p in models.iterdir()} == before
    decision = card["ship_decision"]
    assert decision["kind"] == "INT8 copy of the shipped network"
    assert decision["ships"] is all(decision["checks"].values())
    assert set(decision["views_malignant_auroc"]) == {"shipped", "candidate"}
    rates = decision["abstention"]["candidate"]
    assert 0.0 <= rates["validation_with_views"] <= 1.0 and 0.0 <= rates["ood_decline"] <= 1.0
    assert card["training"]["quantized_from"]["version"] == "triage-v3.3"
    # Shipped as its two INT8 members, never as the merged graph.
    assert [m["file"] for m in card["members"]] == [
        f"{pipeline.VERSION}-member0.onnx",
        f"{pipeline.VERSION}-member1.onnx",
    ]
    assert not (models / f"{pipeline.VERSION}.onnx").exists()
    if card["ship_decision"]["ships"]:
        assert "evaluation" in card and (models / f"{pipeline.VERSION}-member1.onnx").is_file()
