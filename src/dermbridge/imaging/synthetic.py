"""Synthetic lesion photographs the project makes itself, for demo data and tests.

They look enough like a photo (skin tone, a pigmented lesion, texture, camera noise) to pass
the quality gate and to compress like a real JPEG; they are not clinical images.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image, ImageFilter


def lesion_photo(
    width: int = 1024,
    height: int = 768,
    *,
    seed: int = 0,
    kind: str = "dermoscopic",
    fmt: str = "JPEG",
    quality: int = 90,
) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    skin = np.array([224, 172, 140], dtype=np.float32) * rng.uniform(0.85, 1.05)
    img = np.ones((height, width, 3), dtype=np.float32) * skin
    # Gentle lighting gradient and skin texture.
    img *= (0.9 + 0.1 * (xx / width))[..., None]
    img += rng.normal(0, 6, (height, width, 1))
    cx = width * rng.uniform(0.42, 0.58)
    cy = height * rng.uniform(0.42, 0.58)
    scale = 0.28 if kind == "dermoscopic" else (0.12 if kind == "close_up" else 0.05)
    r = min(width, height) * scale
    angle = np.arctan2(yy - cy, xx - cx)
    wobble = 1 + 0.15 * np.sin(3 * angle + rng.uniform(0, 6)) + 0.08 * np.sin(7 * angle)
    dist = np.hypot(xx - cx, yy - cy) / (r * wobble)
    mask = np.clip(1.2 - dist, 0, 1)[..., None]
    lesion = np.array([110, 70, 50], dtype=np.float32) * rng.uniform(0.6, 1.1)
    network = 12 * np.sin(xx / 4.0) * np.sin(yy / 4.0)
    img = img * (1 - mask) + (lesion + network[..., None]) * mask
    if kind == "dermoscopic":
        # The dark circular vignette a contact dermatoscope leaves.
        ring = np.hypot(xx - width / 2, yy - height / 2) / (min(width, height) * 0.62)
        img *= np.clip(1.6 - ring, 0, 1)[..., None]
    img += rng.normal(0, 3, img.shape)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    pil = pil.filter(ImageFilter.GaussianBlur(0.6))
    out = BytesIO()
    pil.save(out, fmt, quality=quality) if fmt == "JPEG" else pil.save(out, fmt)
    return out.getvalue()
