"""Find the dermatoscope's field of view in a photo and frame it the way the triage model expects.

A phone with a clip-on dermatoscope shows the skin inside a round (sometimes square) aperture,
ringed by a dark surround, somewhere in a 12-megapixel frame. The triage model was trained on
HAM10000 frames, where skin fills a 4:3 landscape frame with the lesion near the centre. Shrinking
the whole phone frame would hand the model a small lesion ringed by black it never saw (it declined
every such capture), so the AI input is made from the field of view instead:

1. on a small grey copy, the *surround* is the dark region connected to the frame's border
   (a dark lesion inside the field of view is not connected to it, so it is never mistaken
   for surround);
2. the boundary between the surround and the field of view is fitted with a circle (least
   squares). A dark lesion, hair or a dark vignette touching the edge of the field of view joins
   the surround and bites into the disc, so the boundary then has inward arcs that no single
   circle fits; a robust fit (random three-point circles scored by how many boundary points lie
   on them, then least squares on those) recovers the aperture from the arcs that remain, as
   long as they cover enough of the circle. Failing both, an axis-aligned rectangle (square
   apertures);
3. the AI input is the largest 4:3 rectangle inside the fitted aperture (its corners on the soft
   vignetted edge), clipped to the frame.

When there is no dark surround (a photo taken zoomed in, or a dermoscopic frame that is
already skin edge to edge, like the training data), nothing is detected and the frame is
used as before. Numpy and Pillow only: this runs in the web/worker process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps

# Working size for detection: the long side of the grey copy (cheap; a few ms).
DETECT_LONG_SIDE = 256
# The surround must cover at least this share of the frame to count as one.
MIN_SURROUND_FRACTION = 0.08
# A surround pixel is darker than this share of the way from the darkest to the typical
# field-of-view brightness (and darker than an absolute ceiling).
DARK_LEVEL = 0.35
DARK_CEILING = 70.0
# Circle fit: this share of boundary points must lie within RING_TOLERANCE * radius of it.
CIRCLE_MIN_INLIERS = 0.80
RING_TOLERANCE = 0.06
# Robust circle fit (dark intrusions at the edge): this share of boundary points on the circle,
# spread over at least this share of its circumference, and almost none of the field of view
# outside it. Fixed candidates (seeded): the same photo always gives the same crop.
ROBUST_MIN_INLIERS = 0.45
ROBUST_MIN_COVERAGE = 0.6
ROBUST_MAX_OUTSIDE = 0.02
ROBUST_CANDIDATES = 400
# Rectangle fit: the field of view must fill this share of its bounding box.
RECT_MIN_FILL = 0.93
# Size of the crop against the largest 4:3 rectangle inside the aperture. 1.0: its corners reach
# the soft edge (a little vignetting, as many HAM10000 frames have) and the lesion is magnified
# least. Chosen on 240 validation-split captures (declined: 0.92 -> 16, 1.0 -> 12, 1.1 -> 20;
# plain frames 10), never on the test split's captures.
EDGE_INSET = 1.0
# A crop that keeps at least this share of both sides of the frame is not worth making.
KEEP_WHOLE = 0.88


@dataclass(frozen=True)
class Aperture:
    """The detected field of view, in the coordinates of the image it was found in.

    ``shape`` is "circle" or "rectangle"; ``box`` is the 4:3-ish crop (left, top, right, bottom)
    for the AI input; ``centre``/``radius`` describe the circle (for a rectangle, the centre
    and half the shorter side); ``surround`` is the share of the frame that is dark surround.
    """

    shape: str
    box: tuple[int, int, int, int]
    centre: tuple[float, float]
    radius: float
    surround: float


def _grey_small(image: Image.Image) -> tuple[np.ndarray, float]:
    scale = DETECT_LONG_SIDE / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = image.convert("L").resize(size, Image.Resampling.BOX)
    else:
        scale = 1.0
        small = image.convert("L")
    small = small.filter(ImageFilter.BoxBlur(1))
    return np.asarray(small, dtype=np.float32), scale


def _border_connected(mask: np.ndarray) -> np.ndarray:
    """The part of ``mask`` 4-connected to the image border (flood fill by repeated dilation)."""
    h, w = mask.shape
    seed = np.zeros_like(mask)
    seed[0, :], seed[-1, :], seed[:, 0], seed[:, -1] = (
        mask[0, :],
        mask[-1, :],
        mask[:, 0],
        mask[:, -1],
    )
    reached = seed & mask
    for _ in range(h + w):
        grown = reached.copy()
        grown[1:, :] |= reached[:-1, :]
        grown[:-1, :] |= reached[1:, :]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= mask
        if np.array_equal(grown, reached):
            break
        reached = grown
    return reached


def _fit_circle(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float]:
    """Algebraic (Kasa) least-squares circle through points: centre x, centre y, radius."""
    a = np.column_stack([xs, ys, np.ones_like(xs)])
    b = xs**2 + ys**2
    (c0, c1, c2), *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = c0 / 2.0, c1 / 2.0
    r2 = c2 + cx**2 + cy**2
    return float(cx), float(cy), float(np.sqrt(max(r2, 0.0)))


def _circles_through(
    xs: np.ndarray, ys: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Circumscribed circles of point triples ``idx`` (k x 3): centres x, y and radii (nan when
    the three points are collinear)."""
    ax, ay = xs[idx[:, 0]], ys[idx[:, 0]]
    bx, by = xs[idx[:, 1]], ys[idx[:, 1]]
    cx, cy = xs[idx[:, 2]], ys[idx[:, 2]]
    d = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    a2, b2, c2 = ax**2 + ay**2, bx**2 + by**2, cx**2 + cy**2
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d
        uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d
    return ux, uy, np.hypot(ax - ux, ay - uy)


def _robust_circle(
    xs: np.ndarray, ys: np.ndarray, fov: np.ndarray
) -> tuple[float, float, float] | None:
    """The aperture's circle when dark intrusions bite into the field of view, or None.

    The boundary points on the aperture's rim are the ones farthest out; intrusions add arcs
    inside the disc. Candidate circles through random triples of boundary points are scored by
    their inliers; the best is refitted by least squares on its inliers and accepted only if
    those inliers cover enough of the circumference and the field of view barely pokes out.
    """
    n = len(xs)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, n, (ROBUST_CANDIDATES, 3))
    ux, uy, ur = _circles_through(xs, ys, idx)
    h, w = fov.shape
    ok = np.isfinite(ur) & (ur > 4) & (ur < max(h, w))
    if not ok.any():
        return None
    ux, uy, ur = ux[ok], uy[ok], ur[ok]
    dist = np.hypot(xs[None, :] - ux[:, None], ys[None, :] - uy[:, None])
    inlier = np.abs(dist - ur[:, None]) <= RING_TOLERANCE * ur[:, None]
    best = int(np.argmax(inlier.sum(axis=1)))
    keep = inlier[best]
    if keep.mean() < ROBUST_MIN_INLIERS:
        return None
    cx, cy, r = _fit_circle(xs[keep], ys[keep])
    on_rim = np.abs(np.hypot(xs - cx, ys - cy) - r) <= RING_TOLERANCE * r
    if on_rim.mean() < ROBUST_MIN_INLIERS:
        return None
    # Coverage: the rim points' angles, in 36 sectors; sectors outside the frame do not count
    # against it (an off-centre disc is cut by the frame's edge).
    angles = np.arctan2(ys[on_rim] - cy, xs[on_rim] - cx)
    sectors = np.unique(((angles + np.pi) / (2 * np.pi) * 36).astype(int) % 36)
    centres = (np.arange(36) + 0.5) / 36 * 2 * np.pi - np.pi
    sx, sy = cx + r * np.cos(centres), cy + r * np.sin(centres)
    inside_frame = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
    if len(sectors) < ROBUST_MIN_COVERAGE * max(1, int(inside_frame.sum())):
        return None
    rows, cols = np.nonzero(fov)
    outside = np.hypot(cols + 0.5 - cx, rows + 0.5 - cy) > r * (1 + RING_TOLERANCE)
    if outside.mean() > ROBUST_MAX_OUTSIDE:
        return None
    return cx, cy, r


def _clip_box(
    cx: float, cy: float, half_w: float, half_h: float, w: float, h: float
) -> tuple[float, float, float, float]:
    return (max(0.0, cx - half_w), max(0.0, cy - half_h), min(w, cx + half_w), min(h, cy + half_h))


def find_aperture(image: Image.Image, inset: float = EDGE_INSET) -> Aperture | None:
    """The dermatoscope's field of view in ``image``, or None when there is no dark surround.

    ``inset`` scales the crop inside the aperture (1.0: the largest 4:3 rectangle inside it).
    """
    grey, scale = _grey_small(image)
    h, w = grey.shape
    if h < 16 or w < 16:
        return None
    low = float(np.percentile(grey, 2))
    typical = float(np.percentile(grey, 95))
    if typical - low < 40:
        return None  # no contrast between a surround and a field of view
    cut = min(low + DARK_LEVEL * (typical - low), DARK_CEILING)
    surround = _border_connected(grey < cut)
    share = float(surround.mean())
    if share < MIN_SURROUND_FRACTION or share > 0.9:
        return None
    fov = ~surround
    # Boundary of the field of view against the surround (not against the frame edge).
    edge = np.zeros_like(fov)
    edge[1:, :] |= fov[1:, :] & surround[:-1, :]
    edge[:-1, :] |= fov[:-1, :] & surround[1:, :]
    edge[:, 1:] |= fov[:, 1:] & surround[:, :-1]
    edge[:, :-1] |= fov[:, :-1] & surround[:, 1:]
    ys, xs = np.nonzero(edge)
    if len(xs) < 20:
        return None
    xs_f, ys_f = xs.astype(np.float64) + 0.5, ys.astype(np.float64) + 0.5
    cx, cy, r = _fit_circle(xs_f, ys_f)
    inliers = float(np.mean(np.abs(np.hypot(xs_f - cx, ys_f - cy) - r) <= RING_TOLERANCE * r))
    circle = r > 4 and inliers >= CIRCLE_MIN_INLIERS
    if not circle:
        robust = _robust_circle(xs_f, ys_f, fov)
        if robust is not None:
            (cx, cy, r), circle = robust, True
    if circle:
        shape = "circle"
        # Largest 4:3 rectangle inside the circle: half-diagonal = r, sides 0.8 r by 0.6 r (x2).
        box = _clip_box(cx, cy, 0.8 * r * inset, 0.6 * r * inset, w, h)
    else:
        rows, cols = np.nonzero(fov)
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        fill = float(fov[top:bottom, left:right].mean())
        if fill < RECT_MIN_FILL:
            return None
        shape = "rectangle"
        cx, cy = (left + right) / 2.0, (top + bottom) / 2.0
        half_w, half_h = (right - left) / 2.0, (bottom - top) / 2.0
        r = min(half_w, half_h)
        box = _clip_box(cx, cy, half_w * inset, half_h * inset, w, h)
    left_f, top_f, right_f, bottom_f = box
    if right_f - left_f < 8 or bottom_f - top_f < 8:
        return None
    if (right_f - left_f) >= KEEP_WHOLE * w and (bottom_f - top_f) >= KEEP_WHOLE * h:
        return None  # the field of view already fills the frame (only the corners are dark)
    inv = 1.0 / scale
    return Aperture(
        shape=shape,
        box=(
            round(left_f * inv),
            round(top_f * inv),
            round(right_f * inv),
            round(bottom_f * inv),
        ),
        centre=(cx * inv, cy * inv),
        radius=r * inv,
        surround=share,
    )


def orient_like(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Turn a portrait image to landscape for a landscape target (and vice versa)."""
    portrait_image = image.height > image.width
    portrait_target = size[1] > size[0]
    if portrait_image != portrait_target and image.width != image.height:
        return image.transpose(Image.Transpose.ROTATE_90)
    return image


def frame_for_ai(
    image: Image.Image, size: tuple[int, int], detail: Image.Image | None = None
) -> tuple[Image.Image, Aperture | None]:
    """The AI input at ``size``: the dermatoscope's field of view if one is found, else the frame.

    Detection runs on ``image`` (a small copy is enough). When a field of view is found and
    ``detail`` (a larger copy of the same picture) is given, the crop is taken from ``detail``
    so that a small aperture still has the pixels the model needs. The result is oriented like
    ``size`` and centre-fitted to its aspect ratio, exactly as a frame without a surround is.
    """
    aperture = find_aperture(image)
    source = image
    if aperture is not None:
        source = detail if detail is not None else image
        fx, fy = source.width / image.width, source.height / image.height
        left, top, right, bottom = aperture.box
        source = source.crop(
            (round(left * fx), round(top * fy), round(right * fx), round(bottom * fy))
        )
    framed = ImageOps.fit(orient_like(source, size), size, Image.Resampling.BICUBIC)
    return framed, aperture
