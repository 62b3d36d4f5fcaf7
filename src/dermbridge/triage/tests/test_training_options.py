"""The training options of issue #15 item 3: logit-adjusted loss, strong colour augmentation,
input size, starting from an exported graph and freezing the early blocks.

Pure-function checks run in make test; the tiny real training runs (a few images, one step)
are timed and marked slow when they take more than a few seconds on two shared cores.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the 'train' extra (torch)")
pytest.importorskip("efficientnet_lite_pytorch", reason="training needs the 'train' extra")

import torch.nn.functional as F  # noqa: E402

from dermbridge.triage.inference import MODELS_DIR  # noqa: E402
from dermbridge.triage.training.augment import STANDARD_COLOUR, STRONG_COLOUR, augment  # noqa: E402
from dermbridge.triage.training.train import (  # noqa: E402
    TrainConfig,
    class_weights,
    log_prior,
    loss_fn,
    main,
    train,
)

GRAPH = MODELS_DIR / "triage-v2.onnx"
LABELS = np.array([0] * 12 + [1] * 3 + [2] * 2 + [3, 4, 5, 6])


def test_logit_adjusted_loss_is_cross_entropy_on_prior_shifted_logits() -> None:
    logits = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 3, 6, 0])
    la = loss_fn(TrainConfig(loss="logit_adjusted", la_tau=0.7), LABELS)(logits, y)
    expected = F.cross_entropy(logits + 0.7 * log_prior(LABELS), y)
    assert torch.allclose(la, expected)
    # tau 0 is plain, unweighted cross-entropy; class-balanced is the weighted one.
    plain = loss_fn(TrainConfig(loss="logit_adjusted", la_tau=0.0), LABELS)(logits, y)
    assert torch.allclose(plain, F.cross_entropy(logits, y))
    balanced = loss_fn(TrainConfig(loss="class_balanced"), LABELS)(logits, y)
    assert torch.allclose(balanced, F.cross_entropy(logits, y, weight=class_weights(LABELS, 0.5)))
    assert math.isclose(float(log_prior(LABELS).exp().sum()), 1.0, rel_tol=1e-5)


def test_an_unknown_loss_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="loss must be one of"):
        loss_fn(TrainConfig(loss="focal"), LABELS)


def test_strong_colour_augmentation_spreads_white_balance_wider() -> None:
    grey = torch.full((256, 24, 32, 3), 128, dtype=torch.uint8)

    def channel_ratio_spread(colour: object) -> float:
        x = augment(grey, torch.Generator().manual_seed(1), colour)  # type: ignore[arg-type]
        means = x.mean(dim=(2, 3)) * 128.0 + 127.0  # back to pixel units
        return float((means[:, 0] / means[:, 2]).std())

    standard, strong = channel_ratio_spread(STANDARD_COLOUR), channel_ratio_spread(STRONG_COLOUR)
    assert strong > 2.0 * standard > 0.0


def test_zoom_range_shrinks_or_magnifies_the_lesion_without_changing_the_draws() -> None:
    """--zoom widens the scale range (phone captures show up to 1.2 times the frame); it
    rescales the draws, never adds any, so the default is triage-v2's augmentation exactly."""
    frame = torch.full((64, 60, 80, 3), 230, dtype=torch.uint8)
    frame[:, 20:40, 30:50] = 40  # a dark lesion in the middle

    def lesion_share(zoom: tuple[float, float]) -> float:
        x = augment(frame, torch.Generator().manual_seed(2), STANDARD_COLOUR, zoom)
        grey = x.mean(dim=1) * 128.0 + 127.0
        return float((grey < 135).float().mean())

    zoomed_out, zoomed_in = lesion_share((1.3, 1.3)), lesion_share((0.75, 0.75))
    # Lesion area goes as 1 / scale^2: about 3x between the two.
    assert 2.2 < zoomed_in / zoomed_out < 3.8
    default = augment(frame, torch.Generator().manual_seed(2), STANDARD_COLOUR)
    explicit = augment(frame, torch.Generator().manual_seed(2), STANDARD_COLOUR, (0.8, 1.1))
    assert torch.equal(default, explicit)
    assert TrainConfig().zoom_min == 0.8 and TrainConfig().zoom_max == 1.1


def test_input_size_must_read_width_by_height(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--input-size", "200by150", "--max-steps", "1"])
    assert "--input-size must be WIDTHxHEIGHT" in capsys.readouterr().err


def test_channels_last_computes_the_same_loss_and_gradients_as_nchw() -> None:
    """Training runs channels-last for speed; the arithmetic must be the network's own. With
    batch norm on its running statistics the layouts agree to float rounding (in training mode
    16 blocks of batch statistics over a batch of 4 amplify the rounding to about 1% of a random
    network's gradient; in double precision they agree to 1e-12 there too)."""
    import copy

    from dermbridge.triage.training.model import TriageNet

    torch.manual_seed(0)
    base = TriageNet(pretrained=False).eval()
    x, y = torch.rand(4, 3, 48, 64), torch.tensor([0, 1, 4, 5])
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        model = copy.deepcopy(base).to(memory_format=layout)  # type: ignore[call-overload]
        loss = F.cross_entropy(model(x.contiguous(memory_format=layout)), y)
        loss.backward()
        results.append((loss.item(), {n: p.grad for n, p in model.named_parameters()}))
    (loss_nchw, grads_nchw), (loss_nhwc, grads_nhwc) = results
    assert loss_nhwc == pytest.approx(loss_nchw, rel=1e-5)
    # The stem's 3x3 kernel over 3 channels tells the layouts apart (1x1 and depthwise kernels
    # count as contiguous in both).
    stem = "net._conv_stem.weight"
    assert grads_nhwc[stem].is_contiguous(memory_format=torch.channels_last)
    assert not grads_nhwc[stem].is_contiguous()
    assert grads_nchw[stem].is_contiguous()
    for name, grad in grads_nchw.items():
        assert torch.allclose(grads_nhwc[name], grad, rtol=1e-3, atol=1e-6), name


def test_step_timing_runs_both_layouts_in_alternation() -> None:
    from dermbridge.triage.training.train import step_seconds_by_layout

    threads = torch.get_num_threads()
    result = step_seconds_by_layout("efficientnet-lite0", (64, 48), batch=2, steps=3, threads=1)
    # Each step after the warm-up timed, the order swapped every step.
    cl, nchw = "channels_last", "nchw"
    assert result["order"] == [cl, nchw, nchw, cl, cl, nchw]
    assert all(s > 0 for s in result["seconds_per_step"].values())
    assert torch.get_num_threads() == threads  # the caller's settings are put back


@pytest.mark.bench
def test_channels_last_training_steps_are_faster() -> None:
    """make bench: the layout training uses (ADR 0023) against NCHW, side by side."""
    from dermbridge.triage.training.train import step_seconds_by_layout

    result = step_seconds_by_layout(steps=8)
    print(result)
    assert result["ratio_channels_last_to_nchw"] <= 0.9


def test_device_auto_uses_a_gpu_only_where_pytorch_sees_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dermbridge.triage.training.train import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="--device cuda, but PyTorch sees no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="--device must be one of auto, cpu, cuda"):
        resolve_device("tpu")
    with pytest.raises(SystemExit):  # the command line says so before loading anything
        main(["--device", "cuda", "--data", "/nonexistent"])
    assert "--device cuda, but PyTorch sees no CUDA GPU" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.slow
@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA GPU visible to PyTorch (the project installs torch's CPU build); the GPU "
    "path runs only on a machine with one and a CUDA build of torch",
)
def test_a_gpu_run_trains_there_and_its_checkpoints_load_on_a_cpu(
    ham_dir: Path, tmp_path: Path
) -> None:
    from dermbridge.triage.training.export import load_checkpoint

    gpu = tmp_path / "gpu"
    _run(gpu, ham_dir, device="cuda")
    state = torch.load(gpu / "last.pt", weights_only=False, map_location="cpu")
    assert state["cuda_rng"] is not None and state["device"].startswith("cuda")
    assert state["history"][-1]["device"].startswith("cuda")
    assert next(load_checkpoint(gpu / "best.pt").parameters()).device.type == "cpu"
    # The same run resumed for one more real step on the GPU and, copied, on the CPU.
    shutil.copytree(gpu, tmp_path / "cpu")
    for folder, device in ((gpu, "cuda"), (tmp_path / "cpu", "cpu")):
        _run(folder, ham_dir, device=device, epochs=2, max_steps=2)
        state = torch.load(folder / "last.pt", weights_only=False, map_location="cpu")
        assert state["step"] == 2 and state["device"].startswith(device)


def test_contiguous_flag_trains_in_the_old_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    from dermbridge.triage.training import train as train_module

    seen: list[TrainConfig] = []

    def record(cfg: TrainConfig, *args: object) -> Path:
        seen.append(cfg)
        return Path("best.pt")

    monkeypatch.setattr(train_module, "train", record)
    main(["--max-steps", "1", "--data", "/nonexistent"])
    main(["--max-steps", "1", "--data", "/nonexistent", "--contiguous", "--device", "cpu"])
    assert [cfg.channels_last for cfg in seen] == [True, False]
    assert [cfg.device for cfg in seen] == ["auto", "cpu"]
    assert train_module.memory_format(seen[1]) == torch.contiguous_format


def _graph() -> Path:
    if not GRAPH.exists():
        pytest.skip(f"no exported graph at {GRAPH}")
    return GRAPH


def test_a_network_started_from_the_graph_computes_what_the_graph_does(ham_dir: Path) -> None:
    from dermbridge.triage.training.augment import to_tensor
    from dermbridge.triage.training.data import load_arrays, read_metadata
    from dermbridge.triage.training.model import TriageNet, graph_parity, load_graph_weights

    frames, _ = load_arrays(read_metadata(ham_dir / "metadata.csv")[:6], ham_dir / "images")
    model = TriageNet(pretrained=False)
    load_graph_weights(model, _graph(), to_tensor(torch.from_numpy(frames[:4])))
    assert graph_parity(model, _graph(), frames[4:]) < 1e-3
    # Training-mode batch norm starts from the measured statistics, not from identity.
    bn = model.net._bn0
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def _run(tmp: Path, ham_dir: Path, **options: object) -> dict[str, Any]:
    # The CPU's strict determinism whatever the machine; any setting may be overridden.
    settings = {"epochs": 1, "batch_size": 4, "limit": 8, "max_steps": 1, "warmup_steps": 1}
    cfg = TrainConfig(**{**settings, "device": "cpu", **options})  # type: ignore[arg-type]
    best = train(cfg, tmp, ham_dir / "images", ham_dir / "metadata.csv")
    assert best.exists() and (tmp / "last.pt").exists()
    state = torch.load(tmp / "last.pt", weights_only=False, map_location="cpu")
    assert state["config"]["loss"] == cfg.loss and state["config"]["colour"] == cfg.colour
    return torch.load(tmp / "final.pt", weights_only=False)["model"]


@pytest.mark.slow
def test_fine_tune_from_the_graph_with_frozen_blocks_and_the_new_recipe(
    ham_dir: Path, tmp_path: Path
) -> None:
    from dermbridge.triage.training.augment import to_tensor
    from dermbridge.triage.training.data import lesion_grouped_splits, load_arrays, read_metadata
    from dermbridge.triage.training.model import TriageNet, load_graph_weights

    weights = _run(
        tmp_path,
        ham_dir,
        init_from=str(_graph()),
        freeze_blocks=11,
        loss="logit_adjusted",
        colour="strong",
        ema_decay=0.0,
    )
    # The same 8 training images the run measured its batch-norm statistics on.
    train_records = lesion_grouped_splits(read_metadata(ham_dir / "metadata.csv"))["train"][:8]
    frames, _ = load_arrays(train_records, ham_dir / "images")
    start = TriageNet(pretrained=False)
    load_graph_weights(start, _graph(), to_tensor(torch.from_numpy(frames)))
    before = start.state_dict()
    # The stem and the first 11 blocks are the graph's; the head moved.
    for key in ("net._conv_stem.weight", "net._blocks.10._project_conv.weight"):
        assert torch.equal(weights[key], before[key]), key
    assert torch.equal(weights["net._bn0.running_mean"], before["net._bn0.running_mean"])
    assert not torch.equal(weights["net._fc.weight"], before["net._fc.weight"])


@pytest.mark.slow
def test_full_resolution_input_trains_and_exports(ham_dir: Path, tmp_path: Path) -> None:
    from dermbridge.triage.training.export import export_onnx, load_checkpoint

    _run(tmp_path, ham_dir, input_width=200, input_height=150)
    model = load_checkpoint(tmp_path / "best.pt")
    assert model.input_size == (200, 150)
    onnx = export_onnx(model, tmp_path / "m.onnx")
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    logits, _ = sess.run(None, {"image": np.zeros((1, 3, 150, 200), np.float32)})
    assert logits.shape == (1, 7)


def test_another_training_seed_trains_and_selects_on_the_projects_split(
    ham_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member trained with another seed (for an ensemble) is scored on the project's
    validation, calibration and test lesions, so it must never have trained on them."""
    from dermbridge.triage.training import train as train_module
    from dermbridge.triage.training.data import DEFAULT_SEED, lesion_grouped_splits, read_metadata

    seen: dict[str, list[str]] = {}

    class Stop(Exception):
        pass

    def record(records: Any, *args: object) -> tuple[np.ndarray, np.ndarray]:
        desc = str(args[2])
        seen[desc] = [r.image_id for r in records]
        if desc == "validation":
            raise Stop  # the split is all this test needs: no image is decoded
        labels = np.array([r.label for r in records])
        return np.zeros((len(records), 2, 2, 3), np.uint8), labels

    monkeypatch.setattr(train_module, "load_arrays", record)
    with pytest.raises(Stop):
        train(
            TrainConfig(seed=DEFAULT_SEED + 1),
            tmp_path,
            ham_dir / "images",
            ham_dir / "metadata.csv",
        )
    project = lesion_grouped_splits(read_metadata(ham_dir / "metadata.csv"), seed=DEFAULT_SEED)
    assert seen["train"] == [r.image_id for r in project["train"]]
    assert seen["validation"] == [r.image_id for r in project["validation"]]
    # The seed does reshuffle a split, which is why it must not reach this one.
    other = lesion_grouped_splits(read_metadata(ham_dir / "metadata.csv"), seed=DEFAULT_SEED + 1)
    assert [r.image_id for r in other["validation"]] != seen["validation"]


def test_the_larger_backbones_are_built_with_their_own_blocks_and_an_unknown_one_is_refused() -> (
    None
):
    from dermbridge.triage.training.model import FEATURE_DIM, TriageNet, build_backbone

    lite0 = TriageNet(pretrained=False)
    lite1 = TriageNet(pretrained=False, backbone="efficientnet-lite1")
    lite2 = TriageNet(pretrained=False, backbone="efficientnet-lite2")
    assert (lite1.backbone, lite2.backbone) == ("efficientnet-lite1", "efficientnet-lite2")
    # Lite1 is deeper (more blocks) than Lite0, Lite2 as deep as Lite1 but wider; each has more
    # parameters than the one before and ends in the same 1280-d features the
    # out-of-distribution detector is fitted on.
    assert len(lite0.net._blocks) < len(lite1.net._blocks) == len(lite2.net._blocks)
    last = lambda m: m.net._blocks[-1]._project_conv.out_channels  # noqa: E731
    assert (last(lite1), last(lite2)) == (320, 352)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(lite0) < count(lite1) < count(lite2)
    for net in (lite1, lite2):
        feats = net.eval().forward_features(torch.zeros(1, 3, 120, 160))
        assert feats.shape == (1, FEATURE_DIM)
    # Lite2's ImageNet weights come from its pinned package (the train extra), not a download.
    from dermbridge.triage.training.model import _weights_path

    stem = "net._conv_stem.weight"
    pretrained = TriageNet(pretrained=True, backbone="efficientnet-lite2").state_dict()[stem]
    packaged = torch.load(_weights_path("efficientnet-lite2"), map_location="cpu")
    assert torch.equal(pretrained, packaged["_conv_stem.weight"])
    assert not torch.allclose(pretrained, lite2.state_dict()[stem])
    with pytest.raises(ValueError, match="backbone must be one of"):
        build_backbone(pretrained=False, backbone="efficientnet-b7")


@pytest.mark.slow
def test_the_larger_backbone_trains_from_its_imagenet_weights_and_exports(
    ham_dir: Path, tmp_path: Path
) -> None:
    from dermbridge.triage.training.export import export_onnx, load_checkpoint
    from dermbridge.triage.training.model import TriageNet

    trained = _run(tmp_path, ham_dir, backbone="efficientnet-lite1")
    # Training started from Lite1's ImageNet weights (one small step away), not from scratch.
    pretrained = TriageNet(pretrained=True, backbone="efficientnet-lite1").state_dict()
    scratch = TriageNet(pretrained=False, backbone="efficientnet-lite1").state_dict()
    stem = "net._conv_stem.weight"
    assert torch.allclose(trained[stem], pretrained[stem], atol=0.02)
    assert not torch.allclose(trained[stem], scratch[stem], atol=0.02)
    # The checkpoint remembers its backbone, so the export rebuilds the same network.
    model = load_checkpoint(tmp_path / "best.pt")
    assert model.backbone == "efficientnet-lite1"
    onnx = export_onnx(model, tmp_path / "m.onnx")
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    logits, feats = sess.run(None, {"image": np.zeros((2, 3, 120, 160), np.float32)})
    assert logits.shape == (2, 7) and feats.shape == (2, 1280)


def test_distillation_loss_is_zero_for_the_teachers_own_logits_and_scales_with_t_squared() -> None:
    from dermbridge.triage.training.train import distillation_loss

    gen = torch.Generator().manual_seed(3)
    teacher, student = torch.randn(6, 7, generator=gen), torch.randn(6, 7, generator=gen)
    assert float(distillation_loss(teacher, teacher, 2.0)) == pytest.approx(0.0, abs=1e-6)
    kl = F.kl_div(
        F.log_softmax(student / 2.0, dim=1), F.softmax(teacher / 2.0, dim=1), reduction="batchmean"
    )
    assert torch.allclose(distillation_loss(student, teacher, 2.0), 4.0 * kl)
    assert float(distillation_loss(student, teacher, 1.0)) > 0.0


def test_the_teacher_is_the_graph_run_on_each_training_image(ham_dir: Path) -> None:
    """Teacher logits come from the exported graph at its own input size, one row per record."""
    from dermbridge.triage.training.data import lesion_grouped_splits, load_arrays, read_metadata
    from dermbridge.triage.training.pipeline_graph import run_graph
    from dermbridge.triage.training.train import teacher_logits

    records = lesion_grouped_splits(read_metadata(ham_dir / "metadata.csv"))["train"][:5]
    logits = teacher_logits(_graph(), records, ham_dir / "images", None)
    frames, _ = load_arrays(records, ham_dir / "images")  # triage-v2's graph takes 160x120
    assert logits.shape == (5, 7)
    assert np.allclose(logits.numpy(), run_graph(_graph(), frames)[0], atol=1e-5)


@pytest.mark.slow
def test_a_student_trains_on_the_teachers_soft_labels(ham_dir: Path, tmp_path: Path) -> None:
    weights = _run(
        tmp_path, ham_dir, distil_from=str(_graph()), distil_weight=0.7, distil_temperature=3.0
    )
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    assert state["config"]["distil_from"] == str(_graph())
    assert state["config"]["distil_weight"] == 0.7
    assert "net._fc.weight" in weights
