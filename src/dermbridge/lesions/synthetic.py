"""Synthetic dermoscopic photos of known scale, for the measurement's accuracy report, the tests
and the demo data: a round field of view of a known diameter in mm in a dark surround (a
contact dermatoscope's aperture), skin, and a pigmented lesion of known largest diameter in mm.

Not clinical images: what matters is that the true size is known, so that the measurement
(lesions/analysis.py) can be checked against it (docs/lesions.md, "Accuracy").
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def dermoscopic_disc(
    *,
    diameter_mm: float,
    fov_mm: float = 25.0,
    width: int = 1600,
    height: int = 1200,
    aperture_fraction: float = 0.9,
    elongation: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    two_tone: bool = False,
    seed: int = 0,
    quality: int = 92,
) -> bytes:
    """A JPEG: a field of view `fov_mm` across (its diameter `aperture_fraction` of the short
    side), and a lesion whose largest diameter is `diameter_mm` (an ellipse `elongation` times
    longer than wide when above 1), centred `offset` (x, y, in mm) from the field's centre."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    radius_px = aperture_fraction * min(width, height) / 2
    px_per_mm = 2 * radius_px / fov_mm
    cx, cy = width / 2, height / 2
    skin = np.array([226, 178, 148], dtype=np.float32) * rng.uniform(0.95, 1.03)
    img = np.ones((height, width, 3), dtype=np.float32) * skin
    img += rng.normal(0, 4, (height, width, 1))
    lx = cx + offset[0] * px_per_mm
    ly = cy + offset[1] * px_per_mm
    a = diameter_mm / 2 * px_per_mm  # semi-major axis (the largest diameter / 2)
    b = a / max(1.0, elongation)
    angle = rng.uniform(0, np.pi)
    dx, dy = xx - lx, yy - ly
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    inside = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    brown = np.array([118, 74, 52], dtype=np.float32)
    img[inside] = brown + rng.normal(0, 5, (int(inside.sum()), 3))
    if two_tone:
        dark = inside & (u > 0)
        img[dark] = np.array([62, 44, 40], dtype=np.float32) + rng.normal(
            0, 4, (int(dark.sum()), 3)
        )
    ring = np.hypot(xx - cx, yy - cy)
    surround = ring > radius_px
    img[surround] = 10 + rng.normal(0, 2, (int(surround.sum()), 3))
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    pil = pil.filter(ImageFilter.GaussianBlur(0.8))
    out = BytesIO()
    pil.save(out, "JPEG", quality=quality)
    return out.getvalue()


def close_up_with_ruler(
    *,
    diameter_mm: float,
    px_per_mm: float,
    width: int = 1200,
    height: int = 900,
    vertical: bool = False,
    seed: int = 0,
    quality: int = 90,
) -> bytes:
    """A JPEG close-up: skin, a lesion `diameter_mm` across, and a white millimetre ruler along
    the bottom (1 mm ticks, longer at 5 and 10 mm) at `px_per_mm`; turned a quarter when
    `vertical` (the ruler then runs down the side)."""
    rng = np.random.default_rng(seed)
    img = np.ones((height, width, 3), dtype=np.float32) * np.array([226, 178, 148], np.float32)
    img += rng.normal(0, 4, (height, width, 1))
    yy, xx = np.mgrid[0:height, 0:width]
    inside = np.hypot(xx - width / 2, yy - height * 0.42) <= diameter_mm / 2 * px_per_mm
    img[inside] = np.array([118, 74, 52]) + rng.normal(0, 5, (int(inside.sum()), 3))
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(pil)
    top = int(height * 0.8)
    band = int(min(height * 0.15, 12 * px_per_mm))
    draw.rectangle((0, top, width, top + band), fill=(245, 245, 240))
    tick = max(1.0, 0.12 * px_per_mm)
    mm = 0
    while 20 + mm * px_per_mm < width - 5:
        x = 20 + mm * px_per_mm
        length = 0.7 * band if mm % 10 == 0 else 0.5 * band if mm % 5 == 0 else 0.35 * band
        draw.rectangle((x - tick / 2, top, x + tick / 2, top + length), fill=(20, 20, 20))
        mm += 1
    pil = pil.filter(ImageFilter.GaussianBlur(0.7))
    if vertical:
        pil = pil.transpose(Image.Transpose.ROTATE_90)
    out = BytesIO()
    pil.save(out, "JPEG", quality=quality)
    return out.getvalue()
