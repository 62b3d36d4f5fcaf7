"""The values that enter and leave the image pipeline.

Everything here is plain data: no Django, no database, no I/O. The lead's
models store these values; the pipeline only computes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# The quality check names are shared vocabulary (a service names the blocking ones, in
# accounts): plain data with no Django, like everything here; re-exported.
from dermbridge.vocabulary.quality import QUALITY_CHECKS

DeclaredType = Literal["overview", "close_up", "dermoscopic"]
DECLARED_TYPES: tuple[str, ...] = ("overview", "close_up", "dermoscopic")


class ImageRejected(Exception):
    """An upload that cannot become a clinical image, with a reason the photographer can act on.

    ``code`` is a stable machine name (e.g. ``"too_large"``) for the database and the API;
    ``reason`` is the sentence shown to the person who took the photo.
    """

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def __repr__(self) -> str:
        return f"ImageRejected(reason={self.reason!r}, code={self.code!r})"


@dataclass(frozen=True)
class PipelineConfig:
    """Limits and sizes for one site; every field has a safe default.

    Sizes are in pixels, limits in bytes or pixels. ``blocking_checks`` names the
    quality checks whose failure rejects the image; by default none do, and the
    quality messages are advice for the photographer and the reviewing clinician.
    """

    max_bytes: int = 40 * 1024 * 1024
    # 50 MP covers 48 MP phone main cameras; above that a decoded frame passes 150 MB.
    max_pixels: int = 50_000_000
    min_short_side: int = 640
    read_chunk_bytes: int = 1024 * 1024
    # Compressed text chunks in PNG can inflate a thousandfold (text-chunk bombs).
    max_png_text_bytes: int = 256 * 1024
    blocking_checks: frozenset[str] = frozenset()

    master_quality: int = 92
    viewer_long_side: int = 2048
    viewer_quality: int = 88
    thumbnail_long_side: int = 320
    thumbnail_quality: int = 85
    ai_input_size: tuple[int, int] = (200, 150)
    ers_max_bytes: int = 5_000_000
    ers_min_quality: int = 60

    # Quality metrics are computed on a copy with this long side, not the full frame.
    analysis_long_side: int = 512
    recommended_short_side: int = 1200
    thresholds: QualityThresholds = field(default_factory=lambda: QualityThresholds())

    def __post_init__(self) -> None:
        unknown = set(self.blocking_checks) - set(QUALITY_CHECKS)
        if unknown:
            raise ValueError(
                f"PipelineConfig.blocking_checks names unknown checks {sorted(unknown)}; "
                f"choose from {list(QUALITY_CHECKS)}"
            )
        if self.ers_max_bytes < 10_000:
            raise ValueError("PipelineConfig.ers_max_bytes must be at least 10,000 bytes")


@dataclass(frozen=True)
class QualityThresholds:
    """Cut-offs for the quality gate, calibrated by ``dermbridge.imaging.calibration``.

    See docs/imaging-quality.md for the precision and recall each one gave on HAM10000.
    """

    # Values from docs/imaging-quality.md (HAM10000, 300 images, F1-optimal on a held-out half).
    blur_max: float = 0.432
    dark_max_mean: float = 0.258
    bright_min_clipped: float = 0.21
    glare_max_fraction: float = 0.01
    noise_max_sigma: float = 2.12
    blockiness_max: float = 1.92
    framing_max_offset: float = 0.39
    framing_min_area: float = 0.01
    duplicate_max_distance: int = 15
    dermoscopic_min_score: float = 0.5


@dataclass(frozen=True)
class QualityCheck:
    """One check of the quality gate: passed or not, a score, and advice for the photographer."""

    ok: bool
    score: float
    message: str
    blocking: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "score": round(self.score, 4), "message": self.message}


@dataclass(frozen=True)
class CaptureInfo:
    """When and with what the photo was taken, kept as fields once the metadata is stripped."""

    taken_at: datetime | None = None
    device_model: str | None = None


@dataclass(frozen=True)
class Derivative:
    """One encoded output of the pipeline, with its provenance back to the master."""

    name: str
    data: bytes = field(repr=False)
    media_type: str
    width: int
    height: int
    sha256: str
    master_sha256: str

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/png": "png"}[self.media_type]

    @classmethod
    def build(
        cls,
        name: str,
        data: bytes,
        media_type: str,
        size: tuple[int, int],
        master_sha256: str | None,
    ) -> Derivative:
        digest = hashlib.sha256(data).hexdigest()
        return cls(
            name=name,
            data=data,
            media_type=media_type,
            width=size[0],
            height=size[1],
            sha256=digest,
            master_sha256=master_sha256 or digest,
        )


@dataclass(frozen=True)
class ProcessedImage:
    """A photo made safe and useful: cleaned derivatives, quality verdicts and capture facts."""

    derivatives: dict[str, Derivative]
    quality: dict[str, QualityCheck]
    perceptual_hash: str
    capture: CaptureInfo
    width: int
    height: int
    source_format: str
    source_sha256: str
