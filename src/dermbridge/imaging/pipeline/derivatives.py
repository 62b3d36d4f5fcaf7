"""Derivatives: the metadata-free encodings each reader of the image needs.

* ``master``: full resolution, for the clinical record;
* ``viewer``: long side 2048, for the dermatologist's viewer;
* ``thumbnail``: long side 320, for worklists;
* ``ai_input``: the exact size the triage model reads, lossless;
* ``ers``: at most 5,000,000 bytes, for NHS e-RS attachments, at the best quality that fits.

Encoders are handed bare pixels (see ``normalise._bare``) and no ``exif``, ``icc_profile``
or ``pnginfo`` argument, so nothing but pixels reaches the files.
"""

from __future__ import annotations

import io

from PIL import Image

from .aperture import frame_for_ai, orient_like
from .base import ImageWork, Step
from .types import Derivative


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    # optimize=False: Huffman optimisation costs ~30% more time for ~3% fewer bytes.
    image.save(buffer, "JPEG", quality=quality, subsampling="4:2:0", optimize=False)
    return buffer.getvalue()


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def fit_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """A copy no larger than ``long_side`` on its long side (never enlarged)."""
    width, height = image.size
    scale = long_side / max(width, height)
    if scale >= 1:
        return image
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)


def viewer_copy(image: Image.Image, long_side: int) -> Image.Image:
    """The viewer image: about ``long_side`` long, by integer box reduction where it lands close.

    Phone sensors (4032, 8064, 8160 px) reduce by 2 or 4 to just under 2048: a box
    reduction is ten times cheaper than a Lanczos resize of 12 MP and as faithful at
    viewing scale. Other sizes, where reducing would lose more than 10%, are resized.
    """
    longest = max(image.size)
    if longest <= long_side:
        return image
    factor = -(-longest // long_side)  # smallest integer reduction that fits
    if longest / factor >= 0.9 * long_side:
        return image.reduce(factor)
    return fit_long_side(image, long_side)


def best_jpeg_within(
    image: Image.Image,
    max_bytes: int,
    *,
    max_quality: int,
    min_quality: int,
    known: tuple[int, bytes] | None = None,
) -> tuple[bytes, tuple[int, int]]:
    """The best JPEG of ``image`` within ``max_bytes``: quality by bisection, then scale if needed.

    ``known`` is an encoding already made at ``max_quality`` (the master), reused when
    it fits, so the common case costs no extra encode. Otherwise the bisection runs on
    sizes predicted from a half-scale copy (a quarter of the pixels), scaled by the
    full-size encoding's ratio; the prediction is then checked with full encodes,
    stepping up while the next quality still fits and down while it does not.
    """
    current = image
    while True:
        full_top = (
            known[1]
            if known is not None and current is image
            else encode_jpeg(current, max_quality)
        )
        if len(full_top) <= max_bytes:
            return full_top, current.size
        quality = _predicted_quality(current, max_bytes, len(full_top), max_quality, min_quality)
        best = _verify_upwards(current, max_bytes, quality, max_quality, min_quality)
        if best is not None:
            return best, current.size
        # Not even the lowest acceptable quality fits: shrink in proportion to the overshoot.
        smallest = encode_jpeg(current, min_quality)
        factor = min(0.9, (max_bytes / len(smallest)) ** 0.5 * 0.95)
        width, height = current.size
        if width < 64 or height < 64:
            return smallest, current.size
        current = current.resize(
            (max(1, int(width * factor)), max(1, int(height * factor))),
            Image.Resampling.LANCZOS,
            reducing_gap=3.0,
        )


def _predicted_quality(
    image: Image.Image, max_bytes: int, full_top_bytes: int, max_quality: int, min_quality: int
) -> int:
    sample = image.reduce(2) if min(image.size) >= 256 else image
    sample_top = len(encode_jpeg(sample, max_quality))
    ratio = full_top_bytes / max(sample_top, 1)
    low, high, best = min_quality, max_quality - 1, min_quality
    while low <= high:
        quality = (low + high) // 2
        if len(encode_jpeg(sample, quality)) * ratio <= max_bytes:
            best, low = quality, quality + 1
        else:
            high = quality - 1
    return best


def _verify_upwards(
    image: Image.Image, max_bytes: int, quality: int, max_quality: int, min_quality: int
) -> bytes | None:
    """Full encodes around the predicted quality: the highest that truly fits, or None."""
    fitting: bytes | None = None
    candidate = encode_jpeg(image, quality)
    while len(candidate) > max_bytes:
        if quality <= min_quality:
            return None
        quality -= 1
        candidate = encode_jpeg(image, quality)
    fitting = candidate
    while quality + 1 < max_quality:
        candidate = encode_jpeg(image, quality + 1)
        if len(candidate) > max_bytes:
            break
        fitting, quality = candidate, quality + 1
    return fitting


def ai_orientation(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Turn a portrait photo to landscape for a landscape model input (and vice versa).

    A lesion has no preferred orientation, and the triage model was trained on 4:3
    landscape dermoscopy frames: turning loses nothing, cropping a portrait frame to
    landscape would cut off most of it (matches ``triage.preprocessing.to_rgb_array``).
    """
    return orient_like(image, size)


class MakeViewer(Step):
    """Make the viewer-sized copy once; the quality gate and the small derivatives start from it."""

    name = "viewer"

    def run(self, work: ImageWork) -> None:
        work.viewer = viewer_copy(work.require_image(), work.config.viewer_long_side)


class MakeDerivatives(Step):
    """Encode master, viewer, thumbnail, AI input and e-RS attachment from the clean pixels."""

    name = "derivatives"

    def run(self, work: ImageWork) -> None:
        cfg = work.config
        image = work.require_image()
        master_bytes = encode_jpeg(image, cfg.master_quality)
        master = Derivative.build("master", master_bytes, "image/jpeg", image.size, None)
        out = {"master": master}

        ers_bytes, ers_size = best_jpeg_within(
            image,
            cfg.ers_max_bytes,
            max_quality=cfg.master_quality,
            min_quality=cfg.ers_min_quality,
            known=(cfg.master_quality, master_bytes),
        )
        viewer = work.viewer or viewer_copy(image, cfg.viewer_long_side)
        # The full-resolution frame is no longer needed: free it before the smaller encodes.
        work.image = None
        if viewer is not image:
            image.close()
        out["ers"] = Derivative.build("ers", ers_bytes, "image/jpeg", ers_size, master.sha256)
        out["viewer"] = Derivative.build(
            "viewer",
            encode_jpeg(viewer, cfg.viewer_quality),
            "image/jpeg",
            viewer.size,
            master.sha256,
        )
        # The small derivatives start from the smallest copy that still has the pixels they need.
        small = viewer
        needed = max(cfg.thumbnail_long_side, *cfg.ai_input_size)
        if work.analysis is not None and max(work.analysis.size) >= needed * 1.25:
            small = work.analysis
        thumbnail = fit_long_side(small, cfg.thumbnail_long_side)
        out["thumbnail"] = Derivative.build(
            "thumbnail",
            encode_jpeg(thumbnail, cfg.thumbnail_quality),
            "image/jpeg",
            thumbnail.size,
            master.sha256,
        )
        # The dermatoscope's field of view when the photo has one (round or square aperture in a
        # dark surround), cropped from the viewer copy so that a small aperture keeps its detail;
        # otherwise the whole frame, as before (aperture.py).
        ai_input, _aperture = frame_for_ai(small, cfg.ai_input_size, detail=viewer)
        out["ai_input"] = Derivative.build(
            "ai_input", encode_png(ai_input), "image/png", ai_input.size, master.sha256
        )
        work.image = None
        work.derivatives = out
