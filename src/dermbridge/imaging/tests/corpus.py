"""A generated corpus of photos and hostile files: no binary fixtures in the repository.

Each function returns the bytes of one file. Photos are small (800 x 640 by
default) so the suite stays fast; they have skin-like colour, texture and a dark
central "lesion" so that the quality checks see something photo-like.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
SECRET_SERIAL = "SERIAL-DB-4242-SECRET"
SECRET_OWNER = "Dr Alice Owner"
XMP_PACKET = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="XMP-SECRET-CREATOR"/>'
    b"</rdf:RDF></x:xmpmeta>"
)
TRAILER_HTML = b"<html><script>alert('TRAILER-SECRET')</script></html>"
SIGNATURES = {
    "jpeg": b"\xff\xd8\xff",
    "png": b"\x89PNG",
    "heic": b"ftypheic",
    "mif1": b"ftypmif1",
}


def skin_photo(width: int = 800, height: int = 640, seed: int = 0) -> Image.Image:
    """A skin-toned, textured image with a dark, irregular lesion in the centre."""
    return Image.fromarray(_skin_pixels(width, height, seed).copy(), "RGB")


@functools.lru_cache(maxsize=16)
def _skin_pixels(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            200 + 20 * np.sin(x / 90.0),
            150 + 15 * np.cos(y / 70.0),
            125 + 10 * np.sin((x + y) / 120),
        ],
        axis=-1,
    )
    # Skin texture: smooth noise (upsampled bicubically, so it has no 8-pixel block edges).
    coarse = rng.normal(128, 40, (height // 12 + 1, width // 12 + 1)).clip(0, 255).astype(np.uint8)
    texture = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))
    base += (texture.astype(np.float32)[..., None] - 128) * 0.15
    cy, cx = height / 2, width / 2
    radius = min(width, height) * (0.18 + 0.03 * np.sin(np.arctan2(y - cy, x - cx) * 5))
    lesion = np.hypot(y - cy, x - cx) < radius
    base[lesion] *= np.array([0.45, 0.35, 0.3], dtype=np.float32)
    base += rng.normal(0, 2.0, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def rgb_at(data: bytes, xy: tuple[int, int]) -> tuple[int, int, int]:
    """The RGB value of one pixel of an encoded image."""
    red, green, blue = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[xy[1], xy[0]]
    return int(red), int(green), int(blue)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def tagged_exif(orientation: int = 1) -> Image.Exif:
    """EXIF with every kind of identifying detail a phone writes."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Pixel Test 9"
    exif[0x0131] = "CameraApp 1.0"
    exif[0x013B] = SECRET_OWNER  # Artist
    exif[0x0112] = orientation
    exif_ifd = exif.get_ifd(EXIF_IFD)
    exif_ifd[0x9003] = "2026:11:20 14:30:05"
    exif_ifd[0x9011] = "+01:00"
    exif_ifd[0xA431] = SECRET_SERIAL  # BodySerialNumber
    exif_ifd[0x927C] = b"MAKERNOTE" + SECRET_SERIAL.encode() + b"\xff\xd8\xff\xdb THUMB"
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 26.0)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 39.0)
    return exif


def insert_jpeg_segment(
    jpeg: bytes, marker: int, payload: bytes, before_scan: bool = False
) -> bytes:
    """Insert an APPn/COM segment right after SOI, or just before the first scan."""
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    if not before_scan:
        return jpeg[:2] + segment + jpeg[2:]
    pos = 2
    while jpeg[pos + 1] != 0xDA:
        pos += 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
    return jpeg[:pos] + segment + jpeg[pos:]


def exif_thumbnail_segment(thumbnail: bytes) -> bytes:
    """An APP1 'Exif' segment whose IFD1 carries a JPEG thumbnail, as cameras write it."""
    ifd0 = struct.pack("<H", 0) + struct.pack("<I", 8 + 2 + 4)  # no entries; IFD1 follows
    ifd1_offset = 8 + len(ifd0)
    entries = [
        (0x0201, 4, 1, ifd1_offset + 2 + 2 * 12 + 4),  # JPEGInterchangeFormat
        (0x0202, 4, 1, len(thumbnail)),  # JPEGInterchangeFormatLength
    ]
    ifd1 = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd1 += struct.pack("<HHII", tag, kind, count, value)
    ifd1 += struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + ifd1 + thumbnail
    return b"Exif\x00\x00" + tiff


def hostile_jpeg(orientation: int = 1) -> bytes:
    """A phone JPEG with EXIF (GPS, serials, maker note), XMP, comment and an EXIF thumbnail."""
    image = skin_photo()
    data = encode(image, "JPEG", quality=90, exif=tagged_exif(orientation), comment=SECRET_OWNER)
    thumbnail = encode(skin_photo(160, 128, seed=3), "JPEG", quality=70)
    data = insert_jpeg_segment(data, 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP_PACKET)
    return insert_jpeg_segment(data, 0xE1, exif_thumbnail_segment(thumbnail), before_scan=True)


def motion_photo(jpeg: bytes) -> bytes:
    """A 'motion photo': the still followed by an MP4 video after the JPEG end marker."""
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"MOTION-VIDEO-SECRET" * 100
    return jpeg + mp4


def gif_html_polyglot() -> bytes:
    """A GIF whose bytes are also a web page with a script."""
    gif = encode(Image.new("P", (10, 10)), "GIF")
    return gif[:6] + b"/*" + gif[8:] + b"*/=1;<script>alert(1)</script>"


def with_size_in_header(jpeg: bytes, width: int, height: int) -> bytes:
    """A JPEG whose frame header claims another size (a decompression-bomb header)."""
    pos = 2
    while pos < len(jpeg):
        marker = jpeg[pos + 1]
        length = struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            patched = struct.pack(">HH", height, width)
            return jpeg[: pos + 5] + patched + jpeg[pos + 9 :]
        pos += 2 + length
    raise ValueError("no SOF marker")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_16_bit(pixels: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB (or RGBA) PNG, which Pillow cannot write itself."""
    height, width, channels = pixels.shape
    colour_type = {3: 2, 4: 6}[channels]
    rows = pixels.astype(">u2").reshape(height, width * channels).tobytes()
    stride = width * channels * 2
    raw = b"".join(b"\x00" + rows[y * stride : (y + 1) * stride] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw, 6))
        + png_chunk(b"IEND", b"")
    )


def png_with_ihdr_size(png: bytes, width: int, height: int) -> bytes:
    ihdr_body = bytearray(png[16:29])
    ihdr_body[0:8] = struct.pack(">II", width, height)
    return png[:8] + png_chunk(b"IHDR", bytes(ihdr_body)) + png[33:]


def png_text_bomb(png: bytes, inflated_bytes: int = 64 * 1024 * 1024, kind: str = "zTXt") -> bytes:
    """A PNG with a compressed text chunk that inflates to tens of megabytes from kilobytes."""
    compressed = zlib.compress(b"A" * inflated_bytes, 9)
    if kind == "zTXt":
        chunk = png_chunk(b"zTXt", b"Comment\x00\x00" + compressed)
    else:  # iTXt: keyword, compressed flag 1, method 0, language, translated keyword
        chunk = png_chunk(b"iTXt", b"Comment\x00\x01\x00en\x00Comment\x00" + compressed)
    return png[:33] + chunk + png[33:]


def swapped_primaries_icc() -> bytes:
    """An ICC v2 RGB profile whose red and blue primaries are sRGB's blue and red.

    Pure red under this profile is sRGB blue: if the pipeline honours the
    profile, red pixels come out blue; if it ignores it, they stay red.
    """

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + s15(x) + s15(y) + s15(z)

    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 0x0233) + b"\x00\x00"
    text = b"Swapped RGB test\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text
    desc += struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\x00" * 67
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\x00\x00\x00\x00none\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, blobs = b"", b""
    for signature, body in tags:
        while (offset + len(blobs)) % 4:
            blobs += b"\x00"
        table += signature + struct.pack(">II", offset + len(blobs), len(body))
        blobs += body
    body = struct.pack(">I", len(tags)) + table + blobs
    size = 128 + len(body)
    header = struct.pack(">I", size) + b"\x00" * 4 + struct.pack(">I", 0x02100000)
    header += b"mntrRGB XYZ " + b"\x00" * 12 + b"acsp" + b"\x00" * 24
    header += struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249)
    header += b"\x00" * (128 - len(header))
    return header + body
