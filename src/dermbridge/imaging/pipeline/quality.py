"""The quality gate: each check answers one question a photographer can fix on the spot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from . import metrics
from .base import ImageWork, Step
from .types import ImageRejected, PipelineConfig, QualityCheck, QualityThresholds


def analysis_copy(image: Image.Image, long_side: int) -> Image.Image:
    """A small copy for measuring, at most ``long_side`` pixels long, by box reduction.

    Box averaging costs milliseconds and does not sharpen; the copy is made from the
    viewer image (a few megapixels), not from the full frame.
    """
    factor = -(-max(image.size) // long_side)  # ceiling division
    return image.reduce(factor) if factor > 1 else image.copy()


def detail_crop(image: Image.Image, side: int = 512) -> Image.Image:
    """A full-resolution central crop, where compression artefacts are still visible."""
    width, height = image.size
    left = max(0, (width - side) // 2) // 8 * 8
    top = max(0, (height - side) // 2) // 8 * 8
    return image.crop((left, top, min(width, left + side), min(height, top + side))).convert("L")


def as_float(image: Image.Image) -> metrics.FloatArray:
    return np.asarray(image, dtype=np.float32) / 255.0


def hash_of(analysis: Image.Image) -> str:
    small = analysis.convert("L").resize((32, 32), Image.Resampling.BILINEAR)
    return metrics.perceptual_hash(np.asarray(small, dtype=np.float32))


def assess(
    rgb: metrics.FloatArray,
    detail: metrics.FloatArray,
    *,
    full_size: tuple[int, int],
    declared_type: str,
    perceptual_hash: str,
    other_hashes: Sequence[str],
    config: PipelineConfig,
    other_labels: Sequence[str] = (),
) -> dict[str, QualityCheck]:
    """Run every check on the analysis array ``rgb`` (0..1) and a full-resolution ``detail``."""
    t = config.thresholds
    gray = metrics.luminance(rgb)
    checks: dict[str, QualityCheck] = {}

    def put(name: str, ok: bool, score: float, good: str, bad: str) -> None:
        blocking = name in config.blocking_checks
        checks[name] = QualityCheck(
            ok=ok, score=float(score), message=good if ok else bad, blocking=blocking
        )

    blur = metrics.blur_effect(gray)
    put(
        "blur",
        blur <= t.blur_max,
        blur,
        "Sharp.",
        "Blurred: hold the phone steady and tap to focus.",
    )

    mean_luma, clipped = metrics.exposure(rgb)
    if mean_luma < t.dark_max_mean:
        put(
            "exposure",
            False,
            mean_luma,
            "",
            "Too dark: move to better light or switch on the dermatoscope light.",
        )
    elif clipped > t.bright_min_clipped:
        put(
            "exposure",
            False,
            mean_luma,
            "",
            "Too bright: move out of direct light and switch off the flash.",
        )
    else:
        put("exposure", True, mean_luma, "Well exposed.", "")

    glare = metrics.glare_fraction(rgb)
    put(
        "glare",
        glare <= t.glare_max_fraction,
        glare,
        "No glare.",
        "Glare on the lesion: switch off the flash or tilt the phone slightly.",
    )

    noise = metrics.noise_sigma(gray)
    put(
        "noise",
        noise <= t.noise_max_sigma,
        noise,
        "Clean.",
        "Grainy: use more light, and move closer instead of zooming in.",
    )

    blocks = metrics.blockiness(detail)
    put(
        "compression",
        blocks <= t.blockiness_max,
        blocks,
        "No compression damage.",
        "Heavily compressed: send the original photo, not a copy from a messaging app.",
    )

    short = min(full_size)
    put(
        "resolution",
        short >= config.recommended_short_side,
        short / config.recommended_short_side,
        "Enough detail.",
        "Low resolution: use the phone's main camera at full resolution, not a screenshot.",
    )

    if declared_type == "overview":
        put("framing", True, 0.0, "Overview: framing not assessed.", "")
    else:
        area, offset = metrics.lesion_geometry(rgb)
        ok = area >= t.framing_min_area and offset <= t.framing_max_offset
        put(
            "framing",
            ok,
            offset,
            "Lesion centred.",
            "Lesion small or off-centre: centre the lesion and move closer.",
        )

    repeat_ok, distance, which = nearest_repeat(perceptual_hash, other_hashes, t)
    same_as = other_labels[which] if 0 <= which < len(other_labels) else f"image {which + 1}"
    put(
        "duplicate",
        repeat_ok,
        distance,
        "Not a repeat of another image.",
        f"Same as {same_as}: take a different view, or remove the repeat.",
    )

    score = metrics.dermoscopic_score(rgb)
    looks_dermoscopic = score >= t.dermoscopic_min_score
    if declared_type == "dermoscopic":
        put("image_type", True, score, "Labelled dermoscopic.", "")
    elif looks_dermoscopic:
        put(
            "image_type",
            False,
            score,
            "",
            "Dermatoscope still attached for the "
            + ("overview" if declared_type == "overview" else "close-up")
            + " photo: take it off, or label this image dermoscopic.",
        )
    else:
        put("image_type", True, score, "Taken without the dermatoscope, as labelled.", "")
    return checks


def nearest_repeat(
    perceptual_hash: str, other_hashes: Sequence[str], t: QualityThresholds
) -> tuple[bool, float, int]:
    """Whether the photo differs from the lesion's other images; the distance; the closest."""
    nearest, which = 64, -1
    for index, other in enumerate(other_hashes):
        try:
            distance = metrics.hamming(perceptual_hash, other)
        except ValueError:
            continue
        if distance < nearest:
            nearest, which = distance, index
    return nearest > t.duplicate_max_distance, float(nearest), which


class QualityGate(Step):
    """Measure blur, exposure, glare, noise, compression, resolution, framing, repeats and type."""

    name = "quality"

    def run(self, work: ImageWork) -> None:
        image = work.require_image()
        cfg = work.config
        analysis = analysis_copy(work.viewer or image, cfg.analysis_long_side)
        work.analysis = analysis
        work.perceptual_hash = hash_of(analysis)
        work.quality = assess(
            as_float(analysis),
            as_float(detail_crop(image)),
            full_size=image.size,
            declared_type=work.declared_type,
            perceptual_hash=work.perceptual_hash,
            other_hashes=work.other_hashes,
            other_labels=work.other_labels,
            config=cfg,
        )
        for name, check in work.quality.items():
            if check.blocking and not check.ok:
                raise ImageRejected(check.message, f"quality_{name}")
