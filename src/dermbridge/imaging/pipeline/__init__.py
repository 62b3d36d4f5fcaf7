"""The image pipeline: from an uploaded file to clean, checked, encoded clinical images.

Pure functions: no database, no network, no disk. The only entry point the rest
of DermBridge needs is ``process_image``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from .base import ImageWork, Step
from .derivatives import MakeDerivatives, MakeViewer
from .intake import DecodePixels, IdentifyFormat, InspectHeader, ReadUpload
from .normalise import ConvertToSRGB, Orient
from .quality import QualityGate
from .types import (
    DECLARED_TYPES,
    QUALITY_CHECKS,
    CaptureInfo,
    Derivative,
    ImageRejected,
    PipelineConfig,
    ProcessedImage,
    QualityCheck,
    QualityThresholds,
)

__all__ = [
    "DECLARED_TYPES",
    "QUALITY_CHECKS",
    "CaptureInfo",
    "Derivative",
    "ImageRejected",
    "ImageWork",
    "PipelineConfig",
    "ProcessedImage",
    "QualityCheck",
    "QualityThresholds",
    "Step",
    "pipeline_steps",
    "process_image",
]


def pipeline_steps(source: BinaryIO) -> list[Step]:
    """The steps in the order they run; each relies only on those before it."""
    return [
        ReadUpload(source),
        IdentifyFormat(),
        InspectHeader(),
        DecodePixels(),
        Orient(),
        ConvertToSRGB(),
        MakeViewer(),
        QualityGate(),
        MakeDerivatives(),
    ]


def process_image(
    source: BinaryIO,
    *,
    declared_type: str,
    config: PipelineConfig | None = None,
    other_hashes: Sequence[str] = (),
    other_labels: Sequence[str] = (),
) -> ProcessedImage:
    """Turn one uploaded photo into derivatives and quality verdicts, or raise ``ImageRejected``.

    ``declared_type`` is what the photographer said the photo is ("overview",
    "close_up" or "dermoscopic"); ``other_hashes`` are the perceptual hashes of
    the lesion's images already taken, so that a repeat can be flagged; ``other_labels`` name
    them for the message ("Same as the close-up of lesion 1"), else "image N" in that order.
    """
    if declared_type not in DECLARED_TYPES:
        raise ValueError(f"declared_type must be one of {DECLARED_TYPES}, not {declared_type!r}")
    work = ImageWork(
        config=config or PipelineConfig(),
        declared_type=declared_type,
        other_hashes=tuple(other_hashes),
        other_labels=tuple(other_labels),
    )
    try:
        for step in pipeline_steps(source):
            step.run(work)
    finally:
        for image in (work.image, work.viewer, work.analysis):
            if image is not None:
                image.close()
        work.image = work.viewer = work.analysis = None
        work.data = b""
    master = work.derivatives["master"]
    return ProcessedImage(
        derivatives=work.derivatives,
        quality=work.quality,
        perceptual_hash=work.perceptual_hash,
        capture=work.capture,
        width=master.width,
        height=master.height,
        source_format=work.source_format,
        source_sha256=work.source_sha256,
    )
