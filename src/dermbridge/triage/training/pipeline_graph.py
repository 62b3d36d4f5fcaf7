"""Logits and features from the exported graph (cached by graph and frames), and white-balance copies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from dermbridge.triage.inference import feed_extra, graph_extra_inputs, sha256_file
from dermbridge.triage.preprocessing import (
    normalise,
)
from dermbridge.triage.training.pipeline_settings import (
    COLOUR_WHITE_BALANCE,
)


def graph_input_size(onnx_path: Path) -> tuple[int, int]:
    """The (width, height) an exported graph takes (its input's fixed dimensions)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    height, width = sess.get_inputs()[0].shape[2:4]
    return int(width), int(height)


def run_graph(
    onnx_path: Path, frames: np.ndarray, batch: int = 64, cache_dir: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and features of the exported graph for uint8 NxHxWx3 frames.

    With ``cache_dir`` the outputs are kept per (graph, frames) sha256, so a refit of the same
    graph (``--from-graph``) does not run the network over every split again.
    """
    cache = None
    if cache_dir is not None:
        key = f"{sha256_file(onnx_path)[:16]}-{hashlib.sha256(frames.tobytes()).hexdigest()[:16]}"
        cache = cache_dir / f"outputs-{key}.npz"
        if cache.exists():
            with np.load(cache) as saved:
                return saved["logits"], saved["feats"]
    logits_all, feats_all = _run_graph(onnx_path, frames, batch)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, logits=logits_all, feats=feats_all)
    return logits_all, feats_all


def _run_graph(onnx_path: Path, frames: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    extra = graph_extra_inputs(sess.get_inputs()[1:])
    logits, feats = [], []
    for i in range(0, len(frames), batch):
        chunk = frames[i : i + batch]
        lo, fe = sess.run(None, {"image": normalise(chunk), **feed_extra(extra, chunk)})
        logits.append(lo)
        feats.append(fe)
    return np.concatenate(logits), np.concatenate(feats)


def white_balanced(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Copies of uint8 NxHxWx3 frames with random per-channel gains (a white-balance shift)."""
    gains = rng.uniform(1 - COLOUR_WHITE_BALANCE, 1 + COLOUR_WHITE_BALANCE, (len(frames), 1, 1, 3))
    return np.clip(frames * gains, 0, 255).astype(np.uint8)
