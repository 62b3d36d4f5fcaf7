"""Keeps the training code from rotting: a few images, one optimiser step, export to ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dermbridge.triage.training.data import lesion_grouped_splits, read_metadata

torch = pytest.importorskip("torch", reason="training needs the 'train' extra (torch)")
pytest.importorskip("efficientnet_lite_pytorch", reason="training needs the 'train' extra")


def test_splits_are_grouped_by_lesion_and_deterministic(ham_dir: Path) -> None:
    records = read_metadata(ham_dir / "metadata.csv")
    a = lesion_grouped_splits(records, seed=5)
    b = lesion_grouped_splits(list(reversed(records)), seed=5)
    lesions = {name: {r.lesion_id for r in recs} for name, recs in a.items()}
    names = list(lesions)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            assert not lesions[x] & lesions[y], f"lesion in both {x} and {y}"
    assert sum(len(v) for v in a.values()) == len(records)
    assert {n: sorted(r.image_id for r in v) for n, v in a.items()} == {
        n: sorted(r.image_id for r in v) for n, v in b.items()
    }


# Real torch training, checkpoint and ONNX export: make bench. The data splits (above) stay in
# make test.
@pytest.mark.slow
def test_one_training_step_checkpoint_resume_and_export(
    ham_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dermbridge.triage.training.export import export_onnx, load_checkpoint
    from dermbridge.triage.training.train import TrainConfig, train

    def run(out: Path, **options: Any) -> dict[str, Any]:
        settings = {"epochs": 1, "batch_size": 4, "limit": 8, "max_steps": 1, "warmup_steps": 1}
        cfg = TrainConfig(**{**settings, "device": "cpu", **options})
        best = train(cfg, out, ham_dir / "images", ham_dir / "metadata.csv")
        assert best.exists() and (out / "last.pt").exists()
        return torch.load(out / "final.pt", weights_only=False)["model"]

    first = run(tmp_path / "a")
    second = run(tmp_path / "b")
    # Deterministic for a seed: two runs give identical weights.
    for key in first:
        assert torch.equal(first[key], second[key]), key
    # Resuming after the last epoch does no further training.
    again = run(tmp_path / "a")
    assert all(torch.equal(first[k], again[k]) for k in first)
    # The run trained channels-last (ADR 0023), on the device it names.
    stem = "net._conv_stem.weight"
    assert first[stem].is_contiguous(memory_format=torch.channels_last)
    assert not first[stem].is_contiguous()
    state = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    assert state["device"] == "cpu" and state["cuda_rng"] is None
    assert state["history"][-1]["device"] == "cpu"
    # Re-running a run that stopped at --max-steps does nothing more (it used to crash).
    assert all(torch.equal(first[k], v) for k, v in run(tmp_path / "a", epochs=3).items())
    # --contiguous trains NCHW, and a resumed run keeps the layout it started with: one more
    # real step (epoch 2), NCHW although this command asks for channels-last.
    nchw = run(tmp_path / "c", channels_last=False)
    assert nchw[stem].is_contiguous()
    resumed = run(tmp_path / "c", channels_last=True, epochs=2, max_steps=2)
    assert "resuming in the layout the run started with (channels_last=False)" in (
        capsys.readouterr().out
    )
    assert resumed[stem].is_contiguous() and not torch.equal(resumed[stem], nchw[stem])
    resumed_state = torch.load(tmp_path / "c" / "last.pt", weights_only=False)
    assert resumed_state["config"]["channels_last"] is False and resumed_state["step"] == 2

    onnx = export_onnx(load_checkpoint(tmp_path / "a" / "best.pt"), tmp_path / "m.onnx")
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    logits, feats = sess.run(None, {"image": np.zeros((2, 3, 120, 160), np.float32)})
    assert logits.shape == (2, 7) and feats.shape == (2, 1280)
