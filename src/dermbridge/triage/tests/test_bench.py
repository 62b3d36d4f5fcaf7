"""Latency benchmark (``make bench`` only): p50 per image on one CPU thread <= 30 ms."""

from __future__ import annotations

import pytest

from dermbridge.triage import bench
from dermbridge.triage.inference import TriageModel


@pytest.mark.bench
def test_onnx_latency_within_target(shipped_model: TriageModel) -> None:
    result = bench.run(n=100)
    print(result)
    assert result["onnxruntime"]["p50_ms"] <= bench.TARGET_P50_MS
    eager = result["pytorch_eager"]
    if eager is not None:
        # The exported graphs should not be slower than the eager networks they came from.
        assert result["onnxruntime"]["p50_ms"] <= eager["p50_ms"] * 1.2
    members = result["ensemble_members_vs_one_graph"]
    if members is not None:
        # An ensemble shipped as its members (ADR 0021) costs about what its one graph does.
        assert members["p50_ratio_members_to_graph"] <= 1.15
    int8 = result["int8_vs_float"]
    if int8 is not None:
        # An INT8 copy ships for latency (ADR 0022): 0.59-0.65x its float model when measured.
        assert int8["p50_ratio_int8_to_float"] <= 0.8
