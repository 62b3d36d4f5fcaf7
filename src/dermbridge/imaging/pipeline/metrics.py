"""Image measurements behind the quality gate: pure numpy, one number per question.

Each function takes a small array (the analysis copy, a few hundred pixels a side)
so that measuring a 12 MP photo costs milliseconds. Thresholds live in
``QualityThresholds`` and are calibrated by ``dermbridge.imaging.calibration``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]


def luminance(rgb: FloatArray) -> FloatArray:
    """Rec. 709 luma of an sRGB array scaled 0..1 (good enough for exposure and sharpness)."""
    return (0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]).astype(np.float32)


def central(array: NDArray[np.float32], fraction: float = 0.6) -> NDArray[np.float32]:
    """The central part of an image, where the lesion should be."""
    h, w = array.shape[:2]
    dy, dx = int(h * (1 - fraction) / 2), int(w * (1 - fraction) / 2)
    return array[dy : h - dy, dx : w - dx]


def _box_blur(gray: FloatArray, size: int, axis: int) -> FloatArray:
    """Moving average of ``size`` pixels along ``axis`` (edges repeated), via a running sum."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (size // 2 + 1, size - 1 - size // 2)
    summed = np.cumsum(np.pad(gray, pad, mode="edge"), axis=axis, dtype=np.float32)
    n = gray.shape[axis]
    if axis == 0:
        window = summed[size : size + n] - summed[:n]
    else:
        window = summed[:, size : size + n] - summed[:, :n]
    return (window / np.float32(size)).astype(np.float32, copy=False)


def blur_effect(gray: FloatArray, size: int = 11) -> float:
    """Perceptual blur (Crete-Roffet et al. 2007): 0 is sharp, 1 is completely blurred.

    Compares the image's edge strength with that of a deliberately blurred copy:
    blurring a sharp photo loses much detail, blurring a blurred one loses little.
    """
    scores = []
    for axis in (0, 1):
        reblurred = _box_blur(gray, size, axis)
        d_orig = np.abs(np.diff(gray, axis=axis))
        d_blur = np.abs(np.diff(reblurred, axis=axis))
        total = float(d_orig.sum())
        if total <= 1e-9:
            return 1.0
        lost = float(np.maximum(0.0, d_orig - d_blur).sum())
        scores.append((total - lost) / total)
    return max(scores)


def exposure(rgb: FloatArray) -> tuple[float, float]:
    """Mean luma of the centre and the fraction of its pixels clipped to white."""
    centre = central(rgb)
    mean_luma = float(luminance(centre).mean())
    clipped = float((centre.max(axis=-1) >= 0.985).mean())
    return mean_luma, clipped


def glare_fraction(rgb: FloatArray) -> float:
    """Fraction of the centre that is specular highlight: near-white and colourless."""
    centre = central(rgb, 0.8)
    high = centre.max(axis=-1)
    low = centre.min(axis=-1)
    # Saturation (high - low) / high <= 0.12, written without a division.
    return float(((high >= 0.94) & (high - low <= 0.12 * high)).mean())


_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


def noise_sigma(gray: FloatArray) -> float:
    """Noise standard deviation in 0..255 grey levels (Immerkaer 1996), edges excluded.

    The Laplacian-difference kernel cancels smooth shading; strong edges are left
    out by ignoring the top 10% of gradient so that a sharp lesion border is not read as noise.
    """
    g = gray * 255.0
    h, w = g.shape
    if h < 8 or w < 8:
        return 0.0
    response = np.zeros((h - 2, w - 2), dtype=np.float32)
    for dy in range(3):
        for dx in range(3):
            response += _NOISE_KERNEL[dy, dx] * g[dy : dy + h - 2, dx : dx + w - 2]
    gy, gx = np.gradient(g[1:-1, 1:-1])
    edge = np.hypot(gx, gy)
    flat = edge <= np.quantile(edge, 0.9)
    values = np.abs(response[flat])
    return float(np.sqrt(np.pi / 2.0) * values.mean() / 6.0) if values.size else 0.0


def blockiness(gray: FloatArray) -> float:
    """How much stronger steps are on an 8-pixel grid than elsewhere: JPEG block artefacts.

    About 1.0 for a clean photo; heavy compression raises it. The grid phase is
    searched, so cropping or rotation does not hide the blocks. Needs full-resolution pixels.
    """
    ratios = []
    for axis in (0, 1):
        steps = np.abs(np.diff(gray, axis=axis)).mean(axis=1 - axis)
        usable = len(steps) - len(steps) % 8
        if usable < 16:
            return 1.0
        by_phase = steps[:usable].reshape(-1, 8).mean(axis=0)
        phase = int(np.argmax(by_phase))
        others = np.delete(by_phase, phase).mean()
        ratios.append(float(by_phase[phase] / max(others, 1e-6)))
    return min(ratios)


def lesion_geometry(rgb: FloatArray) -> tuple[float, float]:
    """Area fraction and centre offset (0 centre .. 1 corner) of the darkest region.

    A lesion is darker than the skin around it; an Otsu threshold on luma within
    the lit field (ignoring a dermatoscope's black surround) separates the two.
    """
    gray = luminance(rgb)
    h, w = gray.shape
    field = gray > 0.08
    values = gray[field]
    if values.size < 64:
        return 0.0, 1.0
    threshold = _otsu(values)
    lesion = field & (gray < threshold)
    area = float(lesion.mean())
    if not lesion.any():
        return 0.0, 1.0
    ys, xs = np.nonzero(lesion)
    cy, cx = ys.mean() / h - 0.5, xs.mean() / w - 0.5
    offset = float(np.hypot(cy, cx) / np.hypot(0.5, 0.5))
    return area, offset


def _otsu(values: NDArray[np.float32]) -> float:
    hist, edges = np.histogram(values, bins=64, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * edges[:-1])
    total_weight, total_mean = weight[-1], mean[-1]
    between = (total_mean * weight - mean * total_weight) ** 2 / np.maximum(
        weight * (total_weight - weight), 1e-9
    )
    return float(edges[int(np.argmax(between)) + 1])


def dermoscopic_score(rgb: FloatArray) -> float:
    """How much the photo looks taken through a dermatoscope: a lit disc in a dark surround.

    Compares the corners with the centre; contact dermatoscopes leave the
    corners black. 0 means no dark surround, 1 means black corners.
    """
    gray = luminance(rgb)
    h, w = gray.shape
    ch, cw = max(1, h // 10), max(1, w // 10)
    corners = np.concatenate(
        [
            gray[:ch, :cw].ravel(),
            gray[:ch, -cw:].ravel(),
            gray[-ch:, :cw].ravel(),
            gray[-ch:, -cw:].ravel(),
        ]
    )
    centre = float(central(gray, 0.5).mean())
    if centre <= 1e-3:
        return 0.0
    return float(np.clip(1.0 - corners.mean() / centre, 0.0, 1.0))


_DCT = np.array(
    [
        [
            np.cos(np.pi * (2 * x + 1) * u / 64) * (np.sqrt(1 / 32) if u == 0 else np.sqrt(2 / 32))
            for x in range(32)
        ]
        for u in range(32)
    ],
    dtype=np.float64,
)


def perceptual_hash(gray32: NDArray[np.float32]) -> str:
    """64-bit DCT perceptual hash (pHash) of a 32 x 32 grey image, as 16 hex digits."""
    coefficients = _DCT @ gray32.astype(np.float64) @ _DCT.T
    low = coefficients[:8, :8].ravel()[1:]  # drop the DC term: overall brightness
    bits = np.concatenate([[False], low > np.median(low)])
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two perceptual hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
