"""Normalise: upright, sRGB, 8-bit RGB pixels with nothing else attached.

Colour matters in dermatology (erythema, pigment network), so an embedded ICC
profile is honoured by converting to sRGB rather than dropped; the outputs then
carry no profile at all, which every viewer reads as sRGB.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections import OrderedDict
from datetime import datetime, timedelta, timezone

import numpy as np
from PIL import Image, ImageCms

from .base import ImageWork, Step
from .types import CaptureInfo

_EXIF_IFD = 0x8769
_MODEL = 0x0110
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_SRGB = ImageCms.createProfile("sRGB")


def capture_info(image: Image.Image) -> CaptureInfo:
    """Capture time and camera model from EXIF, the only metadata DermBridge keeps (as fields)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about damaged tags; we only skip them
            exif = image.getexif()
            exif_ifd = exif.get_ifd(_EXIF_IFD)
    except Exception:  # malformed EXIF must not reject a good photo
        return CaptureInfo()
    taken_at = _parse_exif_time(
        exif_ifd.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME), exif_ifd.get(_OFFSET_TIME_ORIGINAL)
    )
    model = exif.get(_MODEL)
    device_model = None
    if isinstance(model, str):
        cleaned = "".join(ch for ch in model if ch.isprintable()).strip()[:64]
        device_model = cleaned or None
    return CaptureInfo(taken_at=taken_at, device_model=device_model)


def _parse_exif_time(value: object, offset: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        taken = datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(offset, str) and len(offset.strip("\x00")) == 6:
        try:
            sign = -1 if offset[0] == "-" else 1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
            return taken.replace(tzinfo=tz)
        except (ValueError, IndexError):
            return taken
    return taken


_TRANSFORMS: OrderedDict[tuple[str, str], ImageCms.ImageCmsTransform | None] = OrderedDict()
_TRANSFORMS_LOCK = threading.Lock()
_TRANSFORMS_KEPT = 32


def _transform_to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from an embedded profile to sRGB, built once per distinct profile.

    Keyed by the profile's hash, not its bytes, so a few large hostile profiles cannot
    pin memory in the cache.
    """
    key = (hashlib.sha256(icc).hexdigest(), mode)
    with _TRANSFORMS_LOCK:
        if key in _TRANSFORMS:
            _TRANSFORMS.move_to_end(key)
            return _TRANSFORMS[key]
    transform = _build_transform(icc, mode)
    with _TRANSFORMS_LOCK:
        _TRANSFORMS[key] = transform
        while len(_TRANSFORMS) > _TRANSFORMS_KEPT:
            _TRANSFORMS.popitem(last=False)
    return transform


def _build_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(source).strip().lower()
        if mode == "RGB" and description.startswith("srgb"):
            return None  # already sRGB: converting would only cost time
        # NOCACHE: lcms's one-pixel cache is not thread-safe, and the transform is shared.
        return ImageCms.buildTransform(
            source,
            _SRGB,
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            flags=ImageCms.Flags.NOCACHE,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken profile: fall back to treating the pixels as sRGB


def to_srgb(image: Image.Image) -> Image.Image:
    """8-bit sRGB RGB pixels from any accepted mode: alpha flattened on white, 16-bit scaled."""
    icc = image.info.get("icc_profile")
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if mode.startswith("I;16") or float(array.max(initial=0)) > 255 else 255.0
        image = Image.fromarray(np.clip(array * (255.0 / peak), 0, 255).astype(np.uint8), "L")
        mode = "L"
    elif mode in ("P", "PA", "1"):
        image = image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        flattened = Image.new("RGB", rgba.size, (255, 255, 255))
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        image, mode = flattened, "RGB"
    if isinstance(icc, bytes) and icc and mode in ("RGB", "L", "CMYK"):
        transform = _transform_to_srgb(icc, mode)
        if transform is not None:
            if mode == "RGB":
                ImageCms.applyTransform(image, transform, inPlace=True)
                return _bare(image)
            converted = ImageCms.applyTransform(image, transform)
            if converted is not None:
                return _bare(converted)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return _bare(image)


def _bare(image: Image.Image) -> Image.Image:
    """The same pixels with every piece of metadata forgotten, so no encoder can write it."""
    image.info.clear()
    if hasattr(image, "_exif"):
        image._exif = None
    return image


_ORIENTATION = 0x0112
# EXIF orientation value -> the transpose that makes the pixels upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = upright) or 1 when it is missing or unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # damaged EXIF: keep the pixels as stored
        return 1
    return value if isinstance(value, int) and value in _UPRIGHT else 1


class Orient(Step):
    """Record capture facts, then turn the pixels upright as the EXIF orientation says.

    Pillow's ``exif_transpose`` re-serialises the EXIF it was given, which fails on
    damaged tags; the EXIF is discarded here anyway, so only the pixels are turned.
    """

    name = "orient"

    def run(self, work: ImageWork) -> None:
        image = work.require_image()
        work.capture = capture_info(image)
        method = _UPRIGHT.get(orientation(image))
        if method is not None:
            upright = image.transpose(method)
            image.close()
            work.image = upright


class ConvertToSRGB(Step):
    """Convert to 8-bit sRGB through the embedded ICC profile and drop all metadata."""

    name = "colour"

    def run(self, work: ImageWork) -> None:
        image = work.require_image()
        converted = to_srgb(image)
        if converted is not image:
            image.close()
        work.image = converted
