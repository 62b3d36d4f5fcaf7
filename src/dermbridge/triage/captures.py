"""Phone-dermatoscope captures made from HAM10000 frames, to test the real image pipeline.

A phone with a clip-on dermatoscope shows the skin inside a round field of view with a soft,
vignetted edge and a dark surround, somewhere in a 12-megapixel frame, turned at any angle and
with the white balance the phone chose. :func:`phone_capture` builds such a photo from one
dermoscopic frame (numpy + Pillow, deterministic for a seed):

* the field of view covers ``zoom`` times the frame's diagonal (zoom < 1 shows only the middle of
  the frame, zoom > 1 shows more skin than the frame had; the missing skin is the frame mirrored
  at its edges, which keeps texture and colour continuous);
* the disc is 45-90% of the photo's short side across, centred up to 12% of the frame off-centre;
* the skin is rotated by any angle, the channels are scaled by white-balance gains of +-12%;
* the edge of the disc falls off over 4% of its radius; the surround is near-black with noise;
* the photo is 4000x3000 (12 MP) and JPEG-encoded at quality 90, as a phone would.

Used by a fast unit test (a few captures) and by ``python -m dermbridge.triage.capture_bench``
(the whole test split). :func:`capture_view` is the AI input such a capture gives once the upload
pipeline has found the field of view, made without the 12 MP detour; the training pipeline fits
the abstention detectors on such views of training and calibration images (ADR 0019).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

PHOTO_SIZE = (4000, 3000)
ZOOMS = (0.8, 1.0, 1.2)


@dataclass(frozen=True)
class CaptureSpec:
    """How one capture was made (kept with the measurement, so a failure can be reproduced)."""

    zoom: float
    disc_fraction: float
    offset: tuple[float, float]
    angle: float
    gains: tuple[float, float, float]
    surround: int


def random_spec(rng: np.random.Generator, zoom: float | None = None) -> CaptureSpec:
    return CaptureSpec(
        zoom=float(zoom if zoom is not None else rng.choice(ZOOMS)),
        disc_fraction=float(rng.uniform(0.45, 0.9)),
        offset=(float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.12, 0.12))),
        angle=float(rng.uniform(0, 360)),
        gains=tuple(float(g) for g in rng.uniform(0.88, 1.12, 3)),  # type: ignore[arg-type]
        surround=int(rng.integers(0, 18)),
    )


def _skin_disc(frame: Image.Image, spec: CaptureSpec, diameter_px: int) -> Image.Image:
    """The skin the field of view shows: mirrored out to the disc, rotated, resized."""
    arr = np.asarray(frame.convert("RGB"))
    h, w = arr.shape[:2]
    side = math.ceil(spec.zoom * math.hypot(w, h))
    # Pad (mirrored) to cover a square of side ~1.5x the disc, so the rotation leaves no gaps.
    need = math.ceil(side * 0.75) + 2
    pad_y, pad_x = max(0, need - h // 2), max(0, need - w // 2)
    while pad_y >= h or pad_x >= w:  # numpy's reflect pads at most one frame at a time
        arr = np.pad(arr, ((h - 1, h - 1), (w - 1, w - 1), (0, 0)), mode="reflect")
        pad_y, pad_x = max(0, pad_y - (h - 1)), max(0, pad_x - (w - 1))
        h, w = arr.shape[:2]
    arr = np.pad(arr, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="reflect")
    big = Image.fromarray(arr).rotate(spec.angle, resample=Image.Resampling.BILINEAR)
    cx, cy = big.width / 2, big.height / 2
    square = big.crop(
        (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
    )
    skin = square.resize((diameter_px, diameter_px), Image.Resampling.BICUBIC)
    luts: list[int] = []
    for gain in spec.gains:
        luts.extend(min(255, round(v * gain)) for v in range(256))
    return skin.point(luts)


def _soft_disc_mask(diameter_px: int) -> Image.Image:
    small = max(32, diameter_px // 8)
    mask = Image.new("L", (small, small), 0)
    edge = 0.04 * small / 2
    ImageDraw.Draw(mask).ellipse((edge, edge, small - edge, small - edge), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(edge))
    return mask.resize((diameter_px, diameter_px), Image.Resampling.BILINEAR)


def phone_capture(
    frame: Image.Image, spec: CaptureSpec, size: tuple[int, int] = PHOTO_SIZE
) -> Image.Image:
    """A phone-dermatoscope photo (RGB, ``size``) of the skin in ``frame``."""
    width, height = size
    diameter = int(spec.disc_fraction * min(width, height))
    skin = _skin_disc(frame, spec, diameter)
    # Near-black surround with a little sensor noise (grey, as a phone's dark frame is).
    noise = Image.effect_noise((width // 4, height // 4), 24).resize(size)
    surround = noise.point(lambda v, s=spec.surround: max(0, min(255, s + (v - 128) // 8)))
    photo = Image.merge("RGB", (surround, surround, surround))
    cx = width / 2 + spec.offset[0] * width
    cy = height / 2 + spec.offset[1] * height
    photo.paste(
        skin, (round(cx - diameter / 2), round(cy - diameter / 2)), _soft_disc_mask(diameter)
    )
    return photo


def capture_view(
    frame: Image.Image, spec: CaptureSpec, size: tuple[int, int] = (200, 150)
) -> np.ndarray:
    """The AI input (uint8 HxWx3 at ``size``, width x height) that a capture of ``frame`` made
    with ``spec`` gives once the upload pipeline has found its field of view: the largest 4:3
    rectangle inside the soft-edged disc (``imaging.pipeline.aperture``), so its corners carry
    the vignetting, fitted to ``size``. The disc's place in the photo, the photo's size and the
    JPEG do not change what is inside the crop, so they are left out; the aperture test
    checks that this matches the pipeline's own output for the same capture."""
    diameter = max(64, 2 * max(size))
    skin = _skin_disc(frame, spec, diameter)
    disc = Image.new("RGB", (diameter, diameter), (spec.surround,) * 3)
    disc.paste(skin, (0, 0), _soft_disc_mask(diameter))
    # Half-diagonal of the crop = radius: sides 0.8 and 0.6 of the diameter.
    crop = disc.crop(
        (round(0.1 * diameter), round(0.2 * diameter), round(0.9 * diameter), round(0.8 * diameter))
    )
    return np.asarray(ImageOps.fit(crop, size, Image.Resampling.BICUBIC), dtype=np.uint8)


def capture_jpeg(
    frame: Image.Image, spec: CaptureSpec, size: tuple[int, int] = PHOTO_SIZE
) -> bytes:
    """The capture as the JPEG a phone would upload (quality 90)."""
    buffer = io.BytesIO()
    phone_capture(frame, spec, size).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
