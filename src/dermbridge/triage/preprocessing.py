"""Image preparation shared by training and runtime inference (numpy + Pillow only, no torch).

The triage model sees a dermoscopic image as a 160x120 (width x height) RGB array, or at the input
size its card names. Training and the
web process call the same function here so that what the model was trained on is exactly what it
is given in clinic; any change here changes the model's behaviour and needs a new model version.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

INPUT_WIDTH = 160
INPUT_HEIGHT = 120
# EfficientNet-Lite was pre-trained with pixels scaled as (x - 127) / 128, i.e. to about [-1, 1].
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0


def to_rgb_array(
    image: Image.Image, size: tuple[int, int] = (INPUT_WIDTH, INPUT_HEIGHT)
) -> np.ndarray:
    """Return the image as a uint8 HxWx3 array, resized to the model's landscape frame
    (``size`` = width, height: 160x120 unless the model's card names another input size).

    EXIF orientation is applied first (phone uploads). Portrait images are turned to landscape,
    because a skin lesion has no preferred orientation and the model was trained on 4:3 landscape
    dermoscopy frames; stretching a portrait frame would distort the lesion far more.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.height > image.width:
        image = image.transpose(Image.Transpose.ROTATE_90)
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def at_size(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A uint8 HxWx3 frame at ``size`` (width, height): itself if it already is, else resized
    exactly as an upload is (:func:`to_rgb_array`)."""
    if rgb.shape[:2] == (size[1], size[0]):
        return rgb
    return to_rgb_array(Image.fromarray(np.ascontiguousarray(rgb)), size)


def normalise(batch_hwc: np.ndarray) -> np.ndarray:
    """Turn uint8 NxHxWx3 pixels into the float32 Nx3xHxW tensor layout the network expects."""
    x = batch_hwc.astype(np.float32)
    x = (x - PIXEL_MEAN) / PIXEL_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class GateThresholds:
    """Cut-offs for the cheap image-quality gate (stored in the model card; set on training data).

    ``min_std``: below this grey-level standard deviation the frame is blank or nearly so.
    ``min_mean`` / ``max_mean``: mean brightness outside this range means under/over-exposure.
    ``min_sharpness``: variance of the Laplacian below this means the image is too blurred to read.
    ``max_clipped``: fraction of pixels at pure black/white above this means a saturated frame.
    ``max_sharpness``: Laplacian variance above this means heavy sensor noise or a high-frequency
    texture no dermoscopic frame has (training images reach about 2,000).
    """

    min_std: float = 3.0
    min_mean: float = 25.0
    max_mean: float = 235.0
    min_sharpness: float = 2.0
    max_clipped: float = 0.5
    max_sharpness: float = 6000.0


def image_statistics(rgb: np.ndarray) -> dict[str, float]:
    """Cheap quality statistics of a uint8 HxWx3 frame (already at model input size)."""
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    # Discrete Laplacian on the interior: a standard, cheap focus measure.
    lap = (
        grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4.0 * grey[1:-1, 1:-1]
    )
    clipped = np.mean((grey <= 2.0) | (grey >= 253.0))
    return {
        "mean": float(grey.mean()),
        "std": float(grey.std()),
        "sharpness": float(lap.var()),
        "clipped": float(clipped),
    }


def quality_gate(rgb: np.ndarray, thresholds: GateThresholds) -> str | None:
    """Return a human-readable reason to decline the image, or None when it may be assessed."""
    stats = image_statistics(rgb)
    if stats["std"] < thresholds.min_std:
        return "The image is blank or almost uniform; no lesion can be seen."
    if stats["mean"] < thresholds.min_mean:
        return "The image is too dark (under-exposed) to assess."
    if stats["mean"] > thresholds.max_mean:
        return "The image is too bright (over-exposed) to assess."
    if stats["clipped"] > thresholds.max_clipped:
        return "Most of the image is saturated black or white; retake the photograph."
    if stats["sharpness"] < thresholds.min_sharpness:
        return "The image is too blurred to assess; retake it in focus."
    if stats["sharpness"] > thresholds.max_sharpness:
        return "The image is too noisy or grainy to assess; retake it in better light."
    return None


def colour_features(rgb: np.ndarray) -> np.ndarray:
    """Twelve low-level colour and texture statistics of a uint8 HxWx3 frame.

    Dermoscopy has a narrow signature (skin and pigment hues, red >= green >= blue in most pixels,
    moderate texture); greyscale photographs, scenery and objects fall far outside it. A Gaussian
    fitted to these statistics on training images is the first, cheap novelty check.
    """
    x = rgb.astype(np.float32) / 255.0
    flat = x.reshape(-1, 3)
    r, g, b = flat[:, 0], flat[:, 1], flat[:, 2]
    # Per pixel across its three channels, written out: numpy's reductions along a 3-long
    # axis are slow (a third of an assessment's time), and r + g + b, max and min taken this
    # way are exactly what flat.sum/max/min(axis=1) give (same order of additions).
    total = r + g + b + np.float32(1e-3)
    chroma = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    warm = (r >= g) & (g >= b)
    stats = image_statistics(rgb)
    return np.array(
        [
            *flat.mean(axis=0),
            *flat.std(axis=0),
            chroma.mean(),
            chroma.std(),
            (r / total).mean(),
            (g / total).mean(),
            warm.mean(),
            np.log1p(stats["sharpness"]),
        ],
        dtype=np.float32,
    )
