"""Out-of-distribution test images for measuring abstention (assembled, never downloaded).

Categories (each a uint8 Nx120x160x3 array in the model frame):
- ``non_skin_photo``: scikit-image's bundled sample photographs and random crops of them;
- ``face_photo``: low-resolution face photographs (skin, but not dermoscopy; the nearest proxy
  for a clinical overview photo available offline);
- ``synthetic``: noise, gradients, stripes and drawn shapes, including brown blobs on pink
  backgrounds that imitate a lesion;
- ``blank``: uniform frames;
- ``degraded_*``: real test-split dermoscopy made unreadable (heavy blur, under-/over-exposure,
  heavy noise).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from dermbridge.triage.preprocessing import INPUT_HEIGHT, INPUT_WIDTH, at_size, to_rgb_array

if TYPE_CHECKING:
    from dermbridge.triage.inference import TriageModel

SAMPLE_PHOTOS = (
    "astronaut",
    "binary_blobs",
    "brick",
    "camera",
    "cat",
    "cell",
    "checkerboard",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "shepp_logan_phantom",
    "text",
)


def _as_pil(arr: np.ndarray) -> Image.Image:
    a = np.asarray(arr)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = (255 * (a - a.min()) / max(1e-9, float(a.max() - a.min()))).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    return Image.fromarray(a).convert("RGB")


def sample_photos() -> Iterator[Image.Image]:
    from skimage import data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in SAMPLE_PHOTOS:
            yield _as_pil(getattr(data, name)())
        left, right, _ = data.stereo_motorcycle()
        yield _as_pil(left)
        yield _as_pil(right)


def _random_crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    scale = rng.uniform(0.4, 0.8)
    w, h = int(img.width * scale), int(img.height * scale)
    x, y = int(rng.integers(0, img.width - w + 1)), int(rng.integers(0, img.height - h + 1))
    return img.crop((x, y, x + w, y + h))


Size = tuple[int, int]
MODEL_FRAME: Size = (INPUT_WIDTH, INPUT_HEIGHT)


def non_skin_photos(
    rng: np.random.Generator, crops: int = 3, size: Size = MODEL_FRAME
) -> np.ndarray:
    frames = []
    for img in sample_photos():
        frames.append(to_rgb_array(img, size))
        frames.extend(to_rgb_array(_random_crop(img, rng), size) for _ in range(crops))
    return np.stack(frames)


def face_photos(rng: np.random.Generator, n: int = 60, size: Size = MODEL_FRAME) -> np.ndarray:
    from skimage import data

    faces = data.lfw_subset()  # 200 grey 25x25 faces bundled with scikit-image
    pick = rng.choice(len(faces), size=min(n, len(faces)), replace=False)
    frames = [to_rgb_array(_as_pil(faces[i]), size) for i in pick]
    astro = _as_pil(data.astronaut())
    # A face at photo resolution.
    frames.append(to_rgb_array(astro.crop((150, 20, 330, 220)), size))
    return np.stack(frames)


def resized(frames: np.ndarray, size: Size) -> np.ndarray:
    """Frames drawn at 160x120, at another model's input size (resized as an upload is)."""
    if frames.shape[1:3] == (size[1], size[0]):
        return frames
    return np.stack([at_size(f, size) for f in frames])


def synthetic(rng: np.random.Generator, per_kind: int = 20) -> np.ndarray:
    h, w = INPUT_HEIGHT, INPUT_WIDTH
    frames: list[np.ndarray] = []
    for _ in range(per_kind):
        frames.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))  # white noise
        smooth = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        frames.append(np.asarray(smooth.filter(ImageFilter.GaussianBlur(4))))  # coloured blobs
        c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0, 1, w)[None, :, None]
        frames.append(np.broadcast_to(c0 * (1 - t) + c1 * t, (h, w, 3)).astype(np.uint8))
        period = int(rng.integers(4, 30))
        stripes = ((np.arange(w) // period) % 2).astype(np.uint8)[None, :] * 255
        frames.append(np.repeat(np.broadcast_to(stripes, (h, w))[:, :, None], 3, axis=2).copy())
        # A lesion-like drawing: a brown ellipse on a pink-beige background.
        bg = tuple(int(v) for v in rng.integers([200, 150, 140], [250, 200, 190]))
        canvas = Image.new("RGB", (w, h), bg)
        draw = ImageDraw.Draw(canvas)
        cx, cy = int(rng.integers(50, 110)), int(rng.integers(40, 80))
        rx, ry = int(rng.integers(15, 45)), int(rng.integers(15, 35))
        fill = tuple(int(v) for v in rng.integers([60, 30, 20], [150, 100, 80]))
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)
        frames.append(np.asarray(canvas))
    return np.stack(frames)


def blank(rng: np.random.Generator, n: int = 20) -> np.ndarray:
    colours: list[tuple[int, ...]] = [(0, 0, 0), (255, 255, 255), (128, 128, 128), (230, 180, 170)]
    colours += [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(n - len(colours))]
    return np.stack(
        [np.full((INPUT_HEIGHT, INPUT_WIDTH, 3), c, dtype=np.uint8) for c in colours[:n]]
    )


def degraded(real: np.ndarray) -> dict[str, np.ndarray]:
    """Unreadable versions of real dermoscopic frames."""
    x = real.astype(np.float32)
    rng = np.random.default_rng(0)
    blur = np.stack(
        [np.asarray(Image.fromarray(f).filter(ImageFilter.GaussianBlur(8))) for f in real]
    )
    return {
        "degraded_blur": blur,
        "degraded_dark": (x * 0.08).astype(np.uint8),
        "degraded_overexposed": np.clip(x * 0.15 + 225, 0, 255).astype(np.uint8),
        "degraded_noise": np.clip(x + rng.normal(0, 90, x.shape), 0, 255).astype(np.uint8),
    }


# Folders of installed packages that ship sample photographs or pictures (all their image files
# are measured, except what the detectors are fitted on: nothing here is, they are fitted on
# HAM10000 training images only). Relative to site-packages; a missing folder is skipped.
PACKAGE_PICTURE_DIRS = (
    "skimage/data",
    "matplotlib/mpl-data/sample_data",
    "scipy/ndimage/tests",
    "networkx/drawing/tests/baseline",
    "sympy/plotting/tests",
    "rest_framework/static/rest_framework/img",
    "playwright/driver/package/lib",
)
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp", ".webp")


def package_pictures(min_side: int = 32) -> Iterator[tuple[str, Image.Image]]:
    """Every picture file at least ``min_side`` pixels a side that the installed packages ship
    in :data:`PACKAGE_PICTURE_DIRS` (first frame of multi-frame files), with its relative path."""
    import sysconfig
    from pathlib import Path

    site = Path(sysconfig.get_paths()["purelib"])
    for folder in PACKAGE_PICTURE_DIRS:
        root = site / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in PICTURE_SUFFIXES or path.stat().st_size < 2000:
                continue
            try:
                with Image.open(path) as img:
                    img.seek(0)
                    rgb = img.convert("RGB")
            except Exception:  # noqa: S112  (an unreadable or odd file is not a photo to measure)
                continue
            if min(rgb.size) >= min_side:
                yield str(path.relative_to(site)), rgb


def documents_and_screens(rng: np.random.Generator, n: int = 20) -> Iterator[Image.Image]:
    """Generated non-photos at phone resolution: text documents, app screenshots, flat colours."""
    for i in range(n):
        # A printed letter: dark lines of "text" on white or cream paper.
        paper = tuple(int(v) for v in rng.integers([235, 230, 215], [256, 256, 250]))
        page = Image.new("RGB", (1240, 1754), paper)
        draw = ImageDraw.Draw(page)
        y = int(rng.integers(80, 200))
        while y < 1650:
            x = 100
            while x < 1100:
                word = int(rng.integers(20, 120))
                draw.rectangle((x, y, x + word, y + 14), fill=(30, 30, 40))
                x += word + 14
            y += int(rng.integers(28, 40))
        if i % 2:
            draw.text((100, 40), "DISCHARGE LETTER", fill=(0, 0, 0))
        yield page
        # A phone screenshot: status bar, coloured header, list rows, buttons.
        shot = Image.new("RGB", (1080, 2340), (250, 250, 250) if i % 3 else (24, 24, 28))
        draw = ImageDraw.Draw(shot)
        accent = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.rectangle((0, 0, 1080, 90), fill=(0, 0, 0))
        draw.rectangle((0, 90, 1080, 300), fill=accent)
        for row in range(300, 2200, int(rng.integers(140, 220))):
            draw.rectangle((40, row + 20, 160, row + 120), fill=accent)
            draw.rectangle((200, row + 40, 900, row + 70), fill=(90, 90, 90))
            draw.line((0, row, 1080, row), fill=(200, 200, 200), width=2)
        draw.rounded_rectangle((300, 2200, 780, 2300), radius=40, fill=accent)
        yield shot
        # A flat colour, sometimes skin-like.
        colour = (
            tuple(int(v) for v in rng.integers([180, 120, 100], [250, 200, 180]))
            if i % 2
            else tuple(int(v) for v in rng.integers(0, 256, 3))
        )
        yield Image.new("RGB", (4000, 3000), colour)


def assemble(real_test_frames: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """All out-of-distribution categories, at the size of ``real_test_frames`` (the model's
    input size); deterministic for a seed."""
    rng = np.random.default_rng(seed)
    size = (int(real_test_frames.shape[2]), int(real_test_frames.shape[1]))
    pick = rng.choice(len(real_test_frames), size=min(50, len(real_test_frames)), replace=False)
    return {
        "non_skin_photo": non_skin_photos(rng, size=size),
        "face_photo": face_photos(rng, size=size),
        "synthetic": resized(synthetic(rng), size),
        "blank": resized(blank(rng), size),
        **degraded(real_test_frames[np.sort(pick)]),
    }


def non_skin_measurement(model: TriageModel, seed: int = 0, crops: int = 3) -> dict[str, Any]:
    """Decline rate on non-skin pictures, framed for the AI exactly as an upload is.

    Every picture the installed packages ship (:func:`package_pictures`), each also as ``crops``
    random crops (40-80% a side), plus generated documents, screenshots and flat colours. Each
    goes through ``imaging.pipeline.aperture.frame_for_ai`` (the AI input derivative's framing,
    which may crop to a detected field of view) and then the model. Returns counts per source
    and the assessed (not declined) pictures by name, so that failures can be looked at.
    """
    from dermbridge.imaging.pipeline import PipelineConfig
    from dermbridge.imaging.pipeline.aperture import frame_for_ai

    size = PipelineConfig().ai_input_size
    rng = np.random.default_rng(seed)
    counts: dict[str, list[int]] = {}
    assessed: list[dict[str, Any]] = []

    def judge(source: str, name: str, img: Image.Image) -> None:
        framed, _ = frame_for_ai(img, size)
        result = model.assess(framed)
        tally = counts.setdefault(source, [0, 0])
        tally[0] += 1
        tally[1] += int(result.abstained)
        if not result.abstained:
            assessed.append(
                {"picture": name, "band": result.band, "p_malignant": result.malignant_probability}
            )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, img in package_pictures():
            source = "package_pictures:" + name.split("/")[0]
            judge(source, name, img)
            for k in range(crops):
                judge(source, f"{name} (crop {k + 1})", _random_crop(img, rng))
        kinds = ("document", "screenshot", "flat_colour")
        for i, img in enumerate(documents_and_screens(rng)):
            judge("generated:" + kinds[i % 3], f"generated {kinds[i % 3]} {i // 3 + 1}", img)
    out: dict[str, Any] = {
        source: {"n": n, "declined": d, "rate": d / n} for source, (n, d) in sorted(counts.items())
    }
    total = sum(n for n, _ in counts.values())
    declined = sum(d for _, d in counts.values())
    out["all"] = {"n": total, "declined": declined, "rate": declined / max(1, total)}
    out["assessed"] = assessed
    return out
