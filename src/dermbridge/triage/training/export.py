"""Export a trained checkpoint to ONNX (flip test-time augmentation inside the graph).

The graph takes ``image``: float32 Nx3x120x160 pixels scaled as (x - 127) / 128, and returns
``logits`` (Nx7, before temperature scaling) and ``features`` (Nx1280 penultimate activations for
the out-of-distribution detector).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from dermbridge.triage.preprocessing import INPUT_HEIGHT, INPUT_WIDTH
from dermbridge.triage.training.model import BACKBONE, ExportWrapper, TriageNet

OPSET = 17


def load_checkpoint(path: Path) -> TriageNet:
    state = torch.load(path, weights_only=False, map_location="cpu")
    config = state.get("config", {})
    size = (config.get("input_width", INPUT_WIDTH), config.get("input_height", INPUT_HEIGHT))
    model = TriageNet(pretrained=False, input_size=size, backbone=config.get("backbone", BACKBONE))
    model.load_state_dict(state["model"])
    return model.eval()


def export_onnx(model: TriageNet, out: Path, tta: bool = True) -> Path:
    """Write the ONNX graph and check it agrees with the eager PyTorch model."""
    import onnxruntime as ort

    wrapper = ExportWrapper(model, tta=tta).eval()
    width, height = model.input_size
    dummy = torch.zeros(1, 3, height, width)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        wrapper,
        (dummy,),
        str(out),
        input_names=["image"],
        output_names=["logits", "features"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    # Parity check on random inputs: the shipped graph must compute what was evaluated in torch.
    x = torch.randn(4, 3, height, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref_logits, ref_feats = wrapper(x)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got_logits, got_feats = sess.run(None, {"image": x.numpy()})
    err = float(np.abs(np.asarray(got_logits) - ref_logits.numpy()).max())
    err_f = float(np.abs(np.asarray(got_feats) - ref_feats.numpy()).max())
    if err > 1e-3 or err_f > 1e-3:
        raise RuntimeError(f"ONNX export disagrees with PyTorch: logits {err}, features {err_f}")
    return out


def eager_latency_ms(model: TriageNet, n: int = 50, tta: bool = True) -> list[float]:
    """Per-image latency of the eager PyTorch model on one thread (the bench baseline)."""
    torch.set_num_threads(1)
    wrapper = ExportWrapper(model, tta=tta).eval()
    x = torch.randn(1, 3, INPUT_HEIGHT, INPUT_WIDTH)
    times = []
    with torch.no_grad():
        for i in range(n + 5):
            t0 = time.perf_counter()
            wrapper(x)
            if i >= 5:  # warm-up runs excluded
                times.append((time.perf_counter() - t0) * 1000.0)
    return times
