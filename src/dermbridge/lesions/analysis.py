"""Measuring a lesion in a dermoscopic photo: where it is, how big, how many colours, how
asymmetric, each with its uncertainty. Pure numpy / scikit-image / Pillow: no Django.

1. The photo is reduced to WORK_LONG_SIDE pixels on the long side.
2. The scale, from the dermatoscope or a ruler:
   a. the dermatoscope's field of view is found with the image pipeline's aperture detection
      (imaging/pipeline/aperture.py: the dark surround, fitted with a circle); when its
      diameter is configured (DERMBRIDGE_DERMATOSCOPE_FOV_MM), mm per pixel = FOV mm /
      (2 x radius px);
   b. otherwise a millimetre ruler lying roughly along the rows or the columns
      (`ruler_scale`): in bands of rows (and of columns), the grey profile across the band is
      detrended and its spectrum taken; a ruler's 1 mm ticks give a strong fundamental whose
      harmonics hold most of the profile's energy (RULER_MIN_COMB), with a real second harmonic
      (narrow ticks, not a smooth wave such as a regular pigment network: RULER_MIN_SECOND),
      along at least three quarters of its length. The finest such period among the bands is 1 mm (the longer 5 and
      10 mm ticks give coarser periods in other bands).
3. Segmentation: Otsu's threshold on the grey levels inside the field of view (or the whole
   frame without one), near-white pixels (a ruler, glare) left out; the lesion is the dark
   connected region nearest the centre, opened (thin ruler ticks go) and holes filled.
4. Largest diameter: the maximum Feret diameter of the region (what a clinician measures with
   a ruler), in pixels, then in mm.
5. Uncertainty: the segmentation is repeated with the threshold moved by +-THRESHOLD_SHIFT of
   the grey range; each measure's uncertainty is half the spread across the three. For the
   diameter, the outline's pixel (+-0.5 px at each end) is added in quadrature, and in mm the
   calibration's own uncertainty: the circle fit at the detector's 256-pixel working size
   (+-1 pixel on the radius), or the ruler's period (half a spectral bin and the spread of the
   bands that found it).
6. Colours: each lesion pixel is given the nearest of the six dermoscopic colours (white, red,
   light brown, dark brown, blue-grey, black) in CIELAB; a colour counts when it covers at least
   COLOUR_SHARE of the lesion (the range at 3 % and 10 % is the uncertainty), and the colour
   variance is the mean standard deviation of L*, a*, b* over the lesion.
7. Asymmetry: the region is turned so that its major axis is horizontal and folded about each
   principal axis through its centroid; the share of the area that does not overlap its mirror
   image, averaged over the two axes (0 perfectly symmetric).

Accuracy on synthetic images of known scale is in docs/lesions.md (lesions/calibration.py).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color, filters, measure

from dermbridge.imaging.pipeline.aperture import DETECT_LONG_SIDE, find_aperture

VERSION = 2
WORK_LONG_SIDE = 768
THRESHOLD_SHIFT = 0.05
WHITE = 0.9
COLOUR_SHARE = 0.05
COLOUR_SHARES = (0.03, 0.10)
# CIELAB of the six colours dermoscopy names (approximate reference points).
COLOURS = {
    "white": (92.0, 0.0, 4.0),
    "red": (48.0, 55.0, 30.0),
    "light brown": (55.0, 16.0, 30.0),
    "dark brown": (32.0, 14.0, 18.0),
    "blue-grey": (45.0, -4.0, -14.0),
    "black": (12.0, 2.0, 2.0),
}


class NotMeasurable(ValueError):
    """No lesion could be segmented in this photo; the message says why."""


@dataclass(frozen=True)
class Measurement:
    version: int
    width: int  # of the working copy the pixel values refer to
    height: int
    centroid: tuple[float, float]  # x, y as fractions of width and height
    diameter_px: float
    diameter_px_uncertainty: float
    mm_per_px: float | None
    diameter_mm: float | None
    diameter_mm_uncertainty: float | None
    area_fraction: float  # of the field of view
    colours: list[str]
    colour_count: int
    colour_count_range: tuple[int, int]
    colour_variance: float
    asymmetry: float
    asymmetry_uncertainty: float
    aperture: bool
    scale_source: str = ""  # "field of view", "ruler" or "" (no scale: pixels only)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _work_copy(photo: bytes) -> Image.Image:
    with Image.open(io.BytesIO(photo)) as pil:
        pil.load()
        rgb = pil.convert("RGB")
    scale = WORK_LONG_SIDE / max(rgb.size)
    if scale < 1:
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BOX)
    return rgb


RULER_MIN_COMB = 0.5
RULER_MIN_SECOND = 0.1
RULER_MIN_PERIOD_PX = 3.0
RULER_SEGMENTS = 4


@dataclass(frozen=True)
class RulerScale:
    mm_per_px: float
    relative_uncertainty: float
    axis: str  # "rows" (a ruler lying across) or "columns"
    score: float


def _spectrum(profile: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    trend = np.convolve(profile, np.ones(31) / 31, mode="same")
    flat = (profile - trend) * np.hanning(len(profile))
    return np.abs(np.fft.rfft(flat, n=pad * len(profile))) ** 2, np.fft.rfftfreq(pad * len(profile))


def _comb_share(spec: np.ndarray, freqs: np.ndarray, f0: float, width: float) -> float:
    near = np.zeros_like(spec, dtype=bool)
    k = 1
    while k * f0 < freqs[-1]:
        near |= np.abs(freqs - k * f0) <= width
        k += 1
    return float(spec[near].sum() / max(spec.sum(), 1e-12))


def ruler_scale(grey: np.ndarray) -> RulerScale | None:
    """The scale of a millimetre ruler lying along the rows or the columns of `grey`, or None."""
    found: list[tuple[float, float, float, str]] = []  # (period px, score, bin width, axis)
    for axis, plane in (("rows", grey), ("columns", grey.T)):
        h, n = plane.shape
        band = max(4, h // 96)
        for top in range(0, h - band + 1, band):
            profile = plane[top : top + band].mean(axis=0)
            spec, freqs = _spectrum(profile, 4)
            usable = (freqs > 16 / n) & (freqs < 1 / RULER_MIN_PERIOD_PX)
            if not usable.any():
                continue
            index = np.nonzero(usable)[0][int(spec[usable].argmax())]
            f0 = float(freqs[index])
            width = 2 * (freqs[1] - freqs[0])
            score = _comb_share(spec, freqs, f0, width)
            if score < RULER_MIN_COMB:
                continue
            if 2 * f0 < 0.5:
                # Narrow ticks, not a smooth wave (a regular pigment network, fabric): the
                # second harmonic carries real energy.
                first = spec[np.abs(freqs - f0) <= width].sum()
                second = spec[np.abs(freqs - 2 * f0) <= width].sum()
                if second < RULER_MIN_SECOND * first:
                    continue
            seg = n // RULER_SEGMENTS
            present = 0
            for s in range(RULER_SEGMENTS):
                sp, fr = _spectrum(profile[s * seg : (s + 1) * seg], 8)
                if _comb_share(sp, fr, f0, 1.5 / seg) > 0.5:
                    present += 1
            if present >= RULER_SEGMENTS - 1:
                found.append((1 / f0, score, float(freqs[1] - freqs[0]), axis))
    if not found:
        return None
    period, score, df, axis = min(found)
    # Half a spectral bin, and the spread of the bands that agree on this period.
    agreeing = [p for p, *_ in found if abs(p - period) / period < 0.02]
    spread = float(np.std(agreeing) / period) if len(agreeing) > 1 else 0.0
    relative = float(np.hypot(0.5 * df * period, spread))
    return RulerScale(1.0 / period, relative, axis, round(score, 3))


def _segment(grey: np.ndarray, field: np.ndarray, threshold: float) -> np.ndarray | None:
    dark = (grey < threshold) & field
    dark = ndimage.binary_opening(dark, iterations=2)
    labels, count = ndimage.label(dark)
    if count == 0:
        return None
    h, w = grey.shape
    best, best_cost = 0, np.inf
    for region in measure.regionprops(labels):
        if region.area < 0.0005 * field.sum():
            continue
        cy, cx = region.centroid
        # Prefer big regions near the centre of the frame (the lesion being photographed).
        cost = np.hypot(cx - w / 2, cy - h / 2) / max(h, w) - 0.5 * np.sqrt(
            region.area / field.sum()
        )
        if cost < best_cost:
            best, best_cost = region.label, cost
    if best == 0:
        return None
    mask = ndimage.binary_fill_holes(labels == best)
    return np.asarray(mask, dtype=bool)


def _asymmetry(mask: np.ndarray) -> float:
    props = measure.regionprops(mask.astype(np.uint8))[0]
    cy, cx = props.centroid
    side = int(np.ceil(props.feret_diameter_max)) + 8
    canvas = np.zeros((2 * side + 1, 2 * side + 1), dtype=float)
    ys, xs = np.nonzero(mask)
    canvas[(ys - round(cy) + side).clip(0, 2 * side), (xs - round(cx) + side).clip(0, 2 * side)] = 1
    # Centroid exactly at the centre, then the major axis horizontal.
    canvas = ndimage.shift(canvas, (round(cy) - cy, round(cx) - cx), order=1)
    turned = ndimage.rotate(canvas, -np.degrees(props.orientation) + 90, reshape=False, order=1)
    turned = turned > 0.5
    area = max(1, int(turned.sum()))
    about_x = np.logical_xor(turned, np.flipud(turned)).sum() / (2 * area)
    about_y = np.logical_xor(turned, np.fliplr(turned)).sum() / (2 * area)
    return float((about_x + about_y) / 2)


def _colours(lab: np.ndarray) -> tuple[dict[str, float], float]:
    refs = np.array(list(COLOURS.values()))
    distance = np.linalg.norm(lab[:, None, :] - refs[None, :, :], axis=2)
    nearest = distance.argmin(axis=1)
    shares = np.bincount(nearest, minlength=len(COLOURS)) / max(1, len(nearest))
    variance = float(lab.std(axis=0).mean())
    return dict(zip(COLOURS, shares.tolist(), strict=True)), variance


def measure_photo(photo: bytes, *, fov_mm: float | None) -> Measurement:
    """Measure the lesion in a dermoscopic photo (any format Pillow reads)."""
    rgb = _work_copy(photo)
    pixels = np.asarray(rgb, dtype=np.float64) / 255.0
    grey = color.rgb2gray(pixels)
    h, w = grey.shape
    aperture = find_aperture(rgb)
    field = np.ones_like(grey, dtype=bool)
    mm_per_px = None
    calibration_rel = 0.0
    if aperture is not None:
        yy, xx = np.mgrid[0:h, 0:w]
        cx, cy = aperture.centre
        field = np.hypot(xx - cx, yy - cy) <= aperture.radius * 0.97
        if fov_mm:
            mm_per_px = fov_mm / (2 * aperture.radius)
            # The circle is fitted on a copy DETECT_LONG_SIDE long: +-1 pixel there.
            detect_radius = aperture.radius * DETECT_LONG_SIDE / max(w, h)
            calibration_rel = 1.0 / max(detect_radius, 1.0)
    scale_source = "field of view" if mm_per_px else ""
    if mm_per_px is None:
        ruler = ruler_scale(grey)
        if ruler is not None:
            mm_per_px, calibration_rel, scale_source = (
                ruler.mm_per_px,
                ruler.relative_uncertainty,
                "ruler",
            )
    # Near-white pixels (a ruler, a label, glare) are left out of the threshold: skin against
    # white would otherwise be the split Otsu finds.
    inside = grey[field & (grey < WHITE)]
    if inside.size < 100 or float(inside.std()) < 0.02:
        raise NotMeasurable("The photo has no contrast between the lesion and the skin.")
    otsu = float(filters.threshold_otsu(inside))
    spread = float(np.percentile(inside, 99) - np.percentile(inside, 1))
    masks = [_segment(grey, field, otsu + k * THRESHOLD_SHIFT * spread) for k in (-1.0, 0.0, 1.0)]
    main = masks[1]
    if main is None:
        raise NotMeasurable("No lesion could be found in the photo.")
    found = [m for m in masks if m is not None]
    if main[0, :].any() or main[-1, :].any() or main[:, 0].any() or main[:, -1].any():
        raise NotMeasurable("The lesion runs off the edge of the photo: it cannot be measured.")
    props = measure.regionprops(main.astype(np.uint8))[0]
    diameters = [measure.regionprops(m.astype(np.uint8))[0].feret_diameter_max for m in found]
    diameter_px = float(props.feret_diameter_max)
    # The threshold's spread, and the outline's own pixel: +-0.5 px at each end.
    diameter_unc = float(np.hypot((max(diameters) - min(diameters)) / 2, 1.0))
    asym = [_asymmetry(m) for m in found]
    lab = color.rgb2lab(pixels)[main]
    shares, variance = _colours(lab)
    counted = [c for c, s in shares.items() if s >= COLOUR_SHARE]
    count_range = tuple(sorted(sum(1 for s in shares.values() if s >= t) for t in COLOUR_SHARES))
    diameter_mm = unc_mm = None
    if mm_per_px is not None:
        diameter_mm = diameter_px * mm_per_px
        unc_mm = float(np.hypot(diameter_unc * mm_per_px, diameter_mm * calibration_rel))
    cy, cx = props.centroid
    return Measurement(
        version=VERSION,
        width=w,
        height=h,
        centroid=(float(cx / w), float(cy / h)),
        diameter_px=round(diameter_px, 2),
        diameter_px_uncertainty=round(diameter_unc, 2),
        mm_per_px=mm_per_px,
        diameter_mm=round(diameter_mm, 2) if diameter_mm is not None else None,
        diameter_mm_uncertainty=round(unc_mm, 2) if unc_mm is not None else None,
        area_fraction=round(float(main.sum() / field.sum()), 4),
        colours=counted,
        colour_count=len(counted),
        colour_count_range=(count_range[0], count_range[1]),
        colour_variance=round(variance, 2),
        asymmetry=round(asym[1] if len(asym) == 3 else asym[0], 3),
        asymmetry_uncertainty=round((max(asym) - min(asym)) / 2, 3),
        aperture=aperture is not None,
        scale_source=scale_source,
    )


def aligned_crop(
    photo: bytes, centroid: tuple[float, float], side_fraction: float, size: int
) -> bytes:
    """A square JPEG `size` pixels across, centred on the lesion (`centroid` as fractions of
    the photo's width and height), covering `side_fraction` of the photo's width: every visit's
    crop at the same size and, when calibrated, the same number of mm across."""
    with Image.open(io.BytesIO(photo)) as pil:
        pil.load()
        rgb = pil.convert("RGB")
    side = max(8, round(side_fraction * rgb.width))
    cx, cy = centroid[0] * rgb.width, centroid[1] * rgb.height
    left, top = round(cx - side / 2), round(cy - side / 2)
    canvas = Image.new("RGB", (side, side), (32, 32, 32))
    canvas.paste(rgb.crop((left, top, left + side, top + side)), (0, 0))
    out = io.BytesIO()
    canvas.resize((size, size), Image.Resampling.LANCZOS).save(out, "JPEG", quality=88)
    return out.getvalue()
