"""Normalisation: upright sRGB pixels, and no metadata or trailing bytes in any output."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

from dermbridge.imaging.pipeline import ProcessedImage, process_image

from . import corpus

SECRETS = [
    corpus.SECRET_SERIAL.encode(),
    corpus.SECRET_OWNER.encode(),
    b"XMP-SECRET",
    b"TRAILER-SECRET",
    b"MOTION-VIDEO-SECRET",
    b"Pixel Test 9",
    b"PhoneMaker",
    b"Exif\x00\x00",
    b"http://ns.adobe.com/xap",
    b"<script",
    b"PK\x03\x04",
    b"ftypmp42",
]


def process(data: bytes, declared_type: str = "close_up") -> ProcessedImage:
    return process_image(io.BytesIO(data), declared_type=declared_type)


def assert_clean(result: ProcessedImage) -> None:
    """Re-read every derivative: no metadata, no profile, nothing after the image end."""
    assert set(result.derivatives) == {"master", "viewer", "thumbnail", "ai_input", "ers"}
    for name, derivative in result.derivatives.items():
        data = derivative.data
        for secret in SECRETS:
            assert secret not in data, f"{name} still contains {secret!r}"
        image = Image.open(io.BytesIO(data))
        assert not image.getexif(), f"{name} has EXIF"
        for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "dpi_xmp"):
            assert key not in image.info, f"{name} carries {key}"
        assert image.mode == "RGB"
        if derivative.media_type == "image/jpeg":
            assert data.count(b"\xff\xd8\xff") == 1, f"{name} embeds another JPEG (thumbnail)"
            assert data.endswith(b"\xff\xd9"), f"{name} has bytes after the image end"
            assert not [m for m in getattr(image, "applist", []) if m[0] != "APP0"]
        else:
            assert data.endswith(b"IEND\xaeB`\x82"), f"{name} has bytes after IEND"
            assert not (set(image.info) - {"dpi"}), f"{name} has PNG text: {image.info}"


def test_it_strips_gps_serials_maker_notes_xmp_thumbnail_and_comment() -> None:
    """GIVEN a phone JPEG full of identifying metadata WHEN processed THEN every output is bare."""
    hostile = corpus.hostile_jpeg()
    assert corpus.SECRET_SERIAL.encode() in hostile and b"XMP-SECRET" in hostile
    result = process(hostile)
    assert_clean(result)


def test_it_returns_capture_time_and_device_as_fields() -> None:
    """GIVEN EXIF with DateTimeOriginal and offset WHEN processed THEN they become fields."""
    result = process(corpus.hostile_jpeg())
    assert result.capture.device_model == "Pixel Test 9"
    assert result.capture.taken_at == datetime(
        2026, 11, 20, 14, 30, 5, tzinfo=timezone(timedelta(hours=1))
    )


@pytest.mark.parametrize(
    "trailer",
    [corpus.TRAILER_HTML, b"PK\x03\x04" + b"ZIPDATA" * 50, b"motion"],
    ids=["html", "zip", "motion-photo"],
)
def test_it_drops_bytes_appended_after_the_image(trailer: bytes) -> None:
    """GIVEN a JPEG with HTML, a zip or a motion-photo video appended THEN no output carries it."""
    photo = corpus.encode(corpus.skin_photo(), "JPEG", quality=90)
    data = corpus.motion_photo(photo) if trailer == b"motion" else photo + trailer
    assert_clean(process(data))


def test_it_applies_exif_orientation() -> None:
    """GIVEN a landscape image tagged 'rotate 90 CW' THEN the outputs are portrait, upright."""
    image = corpus.skin_photo()
    pixels = np.asarray(image).copy()
    pixels[:40, :40] = (0, 255, 0)  # a green marker in the stored top-left corner
    data = corpus.encode(
        Image.fromarray(pixels), "JPEG", quality=95, exif=corpus.tagged_exif(orientation=6)
    )
    result = process(data)
    assert (result.width, result.height) == (640, 800)
    red, green, blue = corpus.rgb_at(
        result.derivatives["master"].data, (620, 20)
    )  # stored top-left is now top-right
    assert green > 200 and red < 80 and blue < 80
    assert_clean(result)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "HEIF"])
def test_it_converts_through_the_embedded_icc_profile(fmt: str) -> None:
    """GIVEN red pixels under a profile whose red primary is sRGB blue THEN they come out blue."""
    pure_red = Image.new("RGB", (800, 640), (255, 0, 0))
    data = corpus.encode(pure_red, fmt, icc_profile=corpus.swapped_primaries_icc(), quality=90)
    result = process(data)
    red, _, blue = corpus.rgb_at(result.derivatives["master"].data, (400, 320))
    assert blue > 200 and red < 60
    assert_clean(result)


def test_it_converts_cmyk_greyscale_16_bit_and_alpha_to_rgb() -> None:
    """GIVEN CMYK, greyscale, 16-bit and transparent images THEN all become 8-bit sRGB RGB."""
    cmyk = corpus.encode(Image.new("CMYK", (800, 640), (0, 255, 255, 0)), "JPEG")
    grey = corpus.encode(corpus.skin_photo().convert("L"), "JPEG")
    deep = np.full((640, 800), 32768, dtype=np.uint16)
    sixteen = corpus.encode(Image.fromarray(deep), "PNG")
    rgba = Image.new("RGBA", (800, 640), (10, 20, 30, 0))
    rgba.paste((200, 50, 50, 255), (300, 250, 500, 390))
    alpha = corpus.encode(rgba, "PNG")

    red = corpus.rgb_at(process(cmyk).derivatives["master"].data, (5, 5))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    assert_clean(process(grey))
    mid = corpus.rgb_at(process(sixteen).derivatives["master"].data, (5, 5))
    assert all(120 <= channel <= 136 for channel in mid)
    flattened = process(alpha).derivatives["master"].data
    assert min(corpus.rgb_at(flattened, (5, 5))) > 245  # transparent becomes white, not black
    assert corpus.rgb_at(flattened, (400, 320))[0] > 180


@pytest.mark.parametrize("fmt", ["HEIF", "WEBP", "PNG"])
def test_it_strips_metadata_from_heic_webp_and_png(fmt: str) -> None:
    """GIVEN HEIC/WebP/PNG with EXIF (GPS, serial) and XMP THEN every output is bare."""
    exif = corpus.tagged_exif().tobytes()
    params: dict[str, object] = {"exif": exif}
    if fmt in ("HEIF", "WEBP"):
        params["xmp"] = corpus.XMP_PACKET
    data = corpus.encode(corpus.skin_photo(), fmt, **params)
    assert corpus.SECRET_SERIAL.encode() in data
    result = process(data)
    assert result.capture.device_model == "Pixel Test 9"
    assert_clean(result)


@pytest.mark.parametrize("channels", [3, 4], ids=["rgb48", "rgba64"])
def test_it_reduces_16_bit_colour_pngs_to_8_bit_srgb(channels: int) -> None:
    """GIVEN a 16-bit-per-channel PNG (from a scanner or raw converter) THEN 8-bit RGB outputs."""
    pixels = np.zeros((640, 800, channels), dtype=np.uint16)
    pixels[..., 0] = 50000  # red about 195 of 255
    pixels[..., 1] = 20000
    pixels[..., 2] = 10000
    if channels == 4:
        pixels[..., 3] = 65535
    result = process(corpus.png_16_bit(pixels))
    red, green, blue = corpus.rgb_at(result.derivatives["master"].data, (400, 320))
    assert abs(red - 194) <= 4 and abs(green - 78) <= 4 and abs(blue - 39) <= 4
    assert_clean(result)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_it_drops_bytes_appended_to_png_webp_and_heic(fmt: str) -> None:
    """GIVEN a web page appended after the image data THEN accepted and no output carries it."""
    data = corpus.encode(corpus.skin_photo(), fmt) + corpus.TRAILER_HTML
    assert_clean(process(data))


def test_a_broken_icc_profile_is_read_as_srgb_not_rejected() -> None:
    """GIVEN a photo whose embedded profile is garbage THEN accepted, pixels taken as sRGB."""
    data = corpus.encode(Image.new("RGB", (800, 640), (200, 120, 90)), "PNG", icc_profile=b"junk")
    result = process(data)
    pixel = corpus.rgb_at(result.derivatives["master"].data, (10, 10))
    assert all(abs(a - b) <= 2 for a, b in zip(pixel, (200, 120, 90), strict=True))  # JPEG
    assert_clean(result)


def test_damaged_exif_tags_do_not_break_orientation() -> None:
    """GIVEN EXIF whose Make tag was corrupted into an ImageWidth of type text (found by fuzzing)
    THEN the photo is still turned upright and cleaned, not crashed on."""
    data = corpus.encode(corpus.skin_photo(), "JPEG", quality=90, exif=corpus.tagged_exif(6))
    at = data.find(b"\x01\x0f\x00\x02")  # big-endian EXIF: tag 0x010F (Make), type ASCII
    damaged = data[:at] + b"\x01\x00\x00\x02" + data[at + 4 :]
    result = process(damaged)
    assert (result.width, result.height) == (640, 800)
    assert_clean(result)
