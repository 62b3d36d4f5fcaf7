"""Runtime inference against the committed ONNX model: outputs, abstention, integrity checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermbridge.triage import inference
from dermbridge.triage.inference import (
    DEFAULT_CARD,
    MODELS_DIR,
    ModelUnavailable,
    TriageModel,
    load_model,
)
from dermbridge.triage.labels import CLASSES, MALIGNANT
from dermbridge.triage.preprocessing import INPUT_HEIGHT, INPUT_WIDTH
from dermbridge.triage.tests.conftest import ham_frames


def _copy_model(tmp_path: Path, card_path: Path = DEFAULT_CARD) -> Path:
    if not card_path.exists():
        pytest.skip("no shipped model to copy")
    card = json.loads(card_path.read_text())
    graphs = [name for name, _ in inference.graph_files(card)]
    for name in (card_path.name, *graphs, card["ood_file"]):
        shutil.copy(card_path.parent / name, tmp_path / name)
    return tmp_path / card_path.name


def test_assess_real_dermoscopic_image(shipped_model: TriageModel, ham_dir: Path) -> None:
    with Image.open(ham_dir / "images" / "ISIC_0027419.jpg") as img:  # a benign keratosis
        result = shipped_model.assess(img)
    assert not result.abstained, result.abstention_reason
    assert set(result.probabilities) == set(CLASSES)
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    assert result.malignant_probability == pytest.approx(
        sum(result.probabilities[c] for c in MALIGNANT)
    )
    assert result.band in {"high", "intermediate", "low"}
    assert result.entropy is not None and 0.0 <= result.entropy <= 1.0
    lo, hi = result.malignant_probability_interval or (-1.0, -1.0)
    assert 0.0 <= lo <= hi <= 1.0
    assert result.model_version == shipped_model.version == "triage-v3.4"
    assert len(result.input_sha256) == 64


def test_earlier_versions_keep_their_own_card(ham_dir: Path) -> None:
    """triage-v3.1 is triage-v3's network with a logit adjustment, triage-v3.2 is triage-v3.1
    with its abstention detectors refitted on capture views (ADR 0019), triage-v3.3 is an
    ensemble of a new network with that same network, and triage-v3.4 is the INT8 copy of
    triage-v3.3's two networks (ADR 0022): an assessment made by an earlier version is still
    explained by that version's card."""
    older = load_model(MODELS_DIR / "triage-v3.json")
    previous = load_model(MODELS_DIR / "triage-v3.1.json")
    newer = load_model(MODELS_DIR / "triage-v3.2.json")
    ensemble = load_model(MODELS_DIR / "triage-v3.3.json")
    shipped = load_model()
    assert (older.version, previous.version, newer.version, ensemble.version) == (
        "triage-v3",
        "triage-v3.1",
        "triage-v3.2",
        "triage-v3.3",
    )
    assert shipped.version == "triage-v3.4"
    assert older.card["sha256"] == previous.card["sha256"] == newer.card["sha256"]  # one network
    # triage-v3.3 runs that network as its second member, beside a new one.
    members = ensemble.card["members"]
    assert [m["sha256"] for m in members][1] == newer.card["sha256"]
    assert members[0]["sha256"] != newer.card["sha256"] and len(ensemble.graphs) == 2
    # triage-v3.4: INT8 copies of those two networks, each recording the one it came from.
    source = shipped.card["training"]["quantized_from"]
    assert (source["version"], source["sha256"]) == ("triage-v3.3", ensemble.card["sha256"])
    copies = shipped.card["training"]["ensemble"]
    assert [c["quantized_from"]["sha256"] for c in copies] == [m["sha256"] for m in members]
    assert not {m["sha256"] for m in shipped.card["members"]} & {m["sha256"] for m in members}
    assert len(shipped.graphs) == 2
    assert not any(older.class_bias) and newer.class_bias[CLASSES.index("mel")] > 0
    np.testing.assert_allclose(previous.class_bias, newer.class_bias, atol=1e-4)
    assert previous.card["ood_sha256"] != newer.card["ood_sha256"]  # refitted detectors
    assert newer.card["abstention"]["capture_views"]["train"] > 0
    with Image.open(ham_dir / "images" / "ISIC_0027419.jpg") as img:
        a, b, c, d = (
            older.assess(img),
            previous.assess(img),
            newer.assess(img),
            ensemble.assess(img),
        )
        e = shipped.assess(img)
    assert (a.model_version, b.model_version, c.model_version, d.model_version) == (
        "triage-v3",
        "triage-v3.1",
        "triage-v3.2",
        "triage-v3.3",
    )
    assert e.model_version == "triage-v3.4"
    # The INT8 copy, recalibrated, agrees with its float source without being it.
    assert not e.abstained and e.band == d.band
    assert e.malignant_probability == pytest.approx(d.malignant_probability, abs=0.1)
    assert max(abs(e.probabilities[c] - d.probabilities[c]) for c in CLASSES) > 1e-4
    assert a.probabilities != c.probabilities
    # The same network and calibration: where both assess, they say the same.
    assert not b.abstained and not c.abstained
    assert b.probabilities == pytest.approx(c.probabilities, abs=1e-6)
    assert not d.abstained and d.probabilities != pytest.approx(c.probabilities, abs=1e-3)


def test_an_ensemble_shipped_as_members_assesses_as_its_single_graph(ham_dir: Path) -> None:
    """The shipped ensemble (triage-v3.4, the INT8 copy of triage-v3.3, as triage-v3.3 before
    it) was fitted and evaluated as one graph (``ensemble_graph.merge`` of its two members) and
    ships as the members: merged again, that graph has the card's sha256, and the
    runtime's mean of the members' logits is bit for bit what the graph computes."""
    pytest.importorskip("onnx", reason="rebuilding the ensemble graph needs the onnx package")
    from dermbridge.triage.training.ensemble_graph import graph_for_card

    shipped = load_model()
    graph = graph_for_card(DEFAULT_CARD)
    assert inference.sha256_file(graph) == shipped.card["sha256"]
    single = TriageModel(shipped.card, [graph], MODELS_DIR / shipped.card["ood_file"])
    assert len(single.graphs) == 1 and len(shipped.graphs) == 2
    batch = ham_frames(ham_dir, 24)
    frames = list(batch)
    for ours, theirs in zip(shipped.run(batch), single.run(batch), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert [shipped.assess_rgb(f) for f in frames] == [single.assess_rgb(f) for f in frames]


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_damaged_ensemble_member_makes_the_model_unavailable(tmp_path: Path, damage: str) -> None:
    card_path = _copy_model(tmp_path)
    member = tmp_path / json.loads(card_path.read_text())["members"][0]["file"]
    if damage == "missing":
        member.unlink()
    else:
        data = bytearray(member.read_bytes())
        data[len(data) // 3] ^= 0x01
        member.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="missing" if damage == "missing" else "integrity"):
        load_model(card_path)


def test_band_follows_shipped_thresholds(shipped_model: TriageModel, ham_dir: Path) -> None:
    for image_id in ("ISIC_0027419", "ISIC_0025030"):
        with Image.open(ham_dir / "images" / f"{image_id}.jpg") as img:
            r = shipped_model.assess(img)
        if r.abstained:
            continue
        assert r.malignant_probability is not None
        th = shipped_model.class_thresholds or {}
        worst = next(
            (c for c in ("mel", "akiec", "bcc") if r.probabilities[c] >= th.get(c, 2)), None
        )
        assert r.worst_plausible == worst
        expected = (
            "high"
            if worst in ("mel", "akiec")
            else "intermediate"
            if worst == "bcc" or r.malignant_probability >= shipped_model.rule_out
            else "low"
        )
        assert r.band == expected


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (200, 160, 150)])
def test_blank_frame_abstains(shipped_model: TriageModel, colour: tuple[int, int, int]) -> None:
    result = shipped_model.assess(Image.new("RGB", (640, 480), colour))
    assert result.abstained
    assert result.abstention_reason
    assert result.band is None and result.malignant_probability is None
    assert result.probabilities == {}


def test_non_skin_photo_abstains(shipped_model: TriageModel) -> None:
    # A synthetic stripe pattern: nothing like dermoscopy.
    stripes = ((np.arange(INPUT_WIDTH) // 8) % 2 * 255).astype(np.uint8)
    frame = np.repeat(np.broadcast_to(stripes, (INPUT_HEIGHT, INPUT_WIDTH))[..., None], 3, 2)
    result = shipped_model.assess(Image.fromarray(np.ascontiguousarray(frame)))
    assert result.abstained
    assert result.abstention_reason


def test_portrait_image_is_rotated_not_rejected(shipped_model: TriageModel, ham_dir: Path) -> None:
    with Image.open(ham_dir / "images" / "ISIC_0027419.jpg") as img:
        landscape = shipped_model.assess(img)
        portrait = shipped_model.assess(img.transpose(Image.Transpose.ROTATE_270))
    assert not portrait.abstained
    assert landscape.malignant_probability is not None
    assert portrait.malignant_probability is not None


def test_corrupt_model_file_is_unavailable(tmp_path: Path) -> None:
    card_path = _copy_model(tmp_path, MODELS_DIR / "triage-v3.2.json")  # one graph
    onnx = tmp_path / json.loads(card_path.read_text())["model_file"]
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="integrity"):
        load_model(card_path)


def test_missing_files_are_unavailable(tmp_path: Path) -> None:
    card_path = _copy_model(tmp_path)
    (tmp_path / json.loads(card_path.read_text())["ood_file"]).unlink()
    with pytest.raises(ModelUnavailable, match="missing"):
        load_model(card_path)
    with pytest.raises(ModelUnavailable, match="missing"):
        load_model(tmp_path / "nowhere.json")


def test_garbage_card_is_unavailable(tmp_path: Path) -> None:
    card = tmp_path / "triage-v2.json"
    card.write_text("{not json")
    with pytest.raises(ModelUnavailable):
        load_model(card)


def test_get_model_returns_none_when_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inference, "DEFAULT_CARD", tmp_path / "absent.json")
    inference.reset_model_cache()
    try:
        assert inference.get_model() is None
    finally:
        inference.reset_model_cache()


def test_runtime_does_not_import_torch() -> None:
    code = (
        "import sys, dermbridge.triage.inference as i, dermbridge.triage.evaluation;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _with_input(tmp_path: Path, width: int, height: int, rewrite_graph: bool) -> Path:
    """A copy of the shipped model whose card names another input size (and, if asked, whose
    graph is rewritten to take it: the network pools globally, so it runs at any size)."""
    card_path = _copy_model(tmp_path, MODELS_DIR / "triage-v3.1.json")  # a 160x120 model
    card = json.loads(card_path.read_text())
    if rewrite_graph:
        onnx = pytest.importorskip("onnx", reason="rewriting a graph needs the onnx package")
        graph_file = tmp_path / card["model_file"]
        graph = onnx.load(str(graph_file))
        dims = graph.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value, dims[3].dim_value = height, width
        onnx.save(graph, str(graph_file))
        card["sha256"] = inference.sha256_file(graph_file)
    card["input"] = {**card["input"], "width": width, "height": height}
    card_path.write_text(json.dumps(card))
    return card_path


def test_card_and_graph_must_agree_on_the_input_size(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="input size"):
        load_model(_with_input(tmp_path, 200, 150, rewrite_graph=False))


def test_a_model_is_given_frames_at_the_input_size_its_card_names(
    tmp_path: Path, ham_dir: Path
) -> None:
    """A 200x150 model gets 200x150 frames from every path: an image, or a frame made at the
    runtime's default 160x120 or at any other size (resized as an upload is)."""
    model = load_model(_with_input(tmp_path, 200, 150, rewrite_graph=True))
    assert model.input_size == (200, 150)
    with Image.open(next((ham_dir / "images").glob("*.jpg"))) as img:
        img.load()
    from dermbridge.triage.preprocessing import to_rgb_array

    at_size = to_rgb_array(img, (200, 150))
    assert at_size.shape == (150, 200, 3)
    by_image = model.assess(img)
    assert by_image.input_sha256 == inference.hashlib.sha256(at_size.tobytes()).hexdigest()
    assert model.assess_rgb(at_size) == by_image
    small = to_rgb_array(img)
    assert model.frame(small).shape == (150, 200, 3)
    assert model.assess_rgb(small) == model.assess_rgb(model.frame(small))


def test_a_larger_frame_is_resized_as_an_upload_is(
    shipped_model: TriageModel, ham_dir: Path
) -> None:
    """Capture frames are kept at the AI input derivative's 200x150; each model resizes them
    (triage-v3.1 to triage-v3.3 take 160x120)."""
    previous = load_model(MODELS_DIR / "triage-v3.1.json")
    with Image.open(next((ham_dir / "images").glob("*.jpg"))) as img:
        img.load()
    big = np.asarray(img.convert("RGB"))
    assert big.shape[:2] != (INPUT_HEIGHT, INPUT_WIDTH)
    assert previous.assess_rgb(big) == previous.assess(img)
    assert shipped_model.assess_rgb(big) == shipped_model.assess(img)


def test_an_ensemble_graph_gives_each_member_the_frame_at_its_size(
    tmp_path: Path, ham_dir: Path
) -> None:
    """An ensemble of two networks in one graph (training/ensemble_graph.py): the member at the
    card's 200x150 reads ``image``; the member at 160x120 its own input, which the runtime fills
    with the picture resized as an upload is, so it computes exactly what it computes alone. Here
    both members are triage-v2's network (one rewritten to take 200x150)."""
    pytest.importorskip("onnx", reason="building an ensemble graph needs the onnx package")
    from dermbridge.triage.preprocessing import to_rgb_array
    from dermbridge.triage.training.ensemble_graph import merge

    wide_card = _with_input(tmp_path, 200, 150, rewrite_graph=True)
    card = json.loads(wide_card.read_text())
    wide_graph = tmp_path / card["model_file"]
    v2_graph = MODELS_DIR / "triage-v2.onnx"
    ensemble = tmp_path / "ensemble.onnx"
    assert merge(wide_graph, [v2_graph], ensemble) == (200, 150)
    card["model_file"], card["sha256"] = ensemble.name, inference.sha256_file(ensemble)
    wide_card.write_text(json.dumps(card))
    model = load_model(wide_card)
    assert model.input_size == (200, 150)
    assert model.graphs[0].extra_inputs == [("image_160x120", (160, 120))]
    alone = load_model(MODELS_DIR / "triage-v3.2.json")  # triage-v2's graph at 160x120
    with Image.open(ham_dir / "images" / "ISIC_0027419.jpg") as img:
        img.load()
    big, small = to_rgb_array(img, (200, 150)), to_rgb_array(img)
    logits, features = model.run(big[None])
    v2_logits, v2_features = alone.run(small[None])
    # The 160x120 member saw exactly what it sees alone (its features are the detector's).
    np.testing.assert_allclose(features, v2_features, rtol=1e-5, atol=1e-4)
    wide_logits = 2 * logits - v2_logits  # the 200x150 member's share of the mean
    assert np.abs(wide_logits - v2_logits).max() > 0.01  # the same weights at another scale
    assert model.assess(img).model_version == card["version"]  # end to end through assess()
