"""Intake: decide from the bytes alone whether an upload is a photo we can safely decode.

File names and client content types are never consulted: both are chosen by
whoever sends the file. Every check that the header can answer runs before a
pixel buffer is allocated, so a 1 kB file claiming to be 100,000 x 100,000 pixels
costs nothing.
"""

from __future__ import annotations

import hashlib
import struct
import warnings
import zlib
from typing import BinaryIO

import pillow_heif
from PIL import Image

from .base import ImageWork, Step
from .types import ImageRejected

pillow_heif.register_heif_opener()

# Major or compatible brands of still HEIF images made by phones.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}
_HEIF_STILL_BRANDS = {b"heic", b"heix", b"heim", b"heis"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}

# Counted over the whole file, trailers included: a motion-photo video can hold a few hundred
# chance FF DA pairs, a scan bomb needs many thousands of scans.
MAX_JPEG_SCANS = 1000
SEND_PHOTO = "Please send the photo as a JPEG, PNG, HEIC or WebP straight from the camera."


def read_within_limit(source: BinaryIO, max_bytes: int, chunk_bytes: int) -> bytes:
    """Read an upload chunk by chunk, stopping as soon as it passes ``max_bytes``."""
    buffer = bytearray()
    while True:
        chunk = source.read(chunk_bytes)
        if not chunk:
            break
        buffer += chunk
        if len(buffer) > max_bytes:
            raise ImageRejected(
                f"The file is larger than {max_bytes // (1024 * 1024)} MB. "
                "Send the photo straight from the camera, not a scan or a video.",
                "too_large",
            )
    return bytes(buffer)


def sniff_format(head: bytes) -> str:
    """Name the container from its first bytes, or reject with what it appears to be."""
    if not head:
        raise ImageRejected("The file is empty. Please take or attach the photo again.", "empty")
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(_PNG_SIGNATURE):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return _sniff_heif(head)
    # Shorter than any real image header: cut off in transfer.
    if len(head) < 12 and (head.startswith(b"\xff\xd8") or _PNG_SIGNATURE.startswith(head[:8])):
        raise ImageRejected("The file is cut off (truncated). Please send it again.", "truncated")
    raise ImageRejected(_describe_non_image(head), "not_an_image")


def _sniff_heif(head: bytes) -> str:
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head), 64), 4)}
    brands = {major} | compatible
    if major in {b"avif", b"avis"} or (b"avif" in brands and not brands & _HEIF_STILL_BRANDS):
        raise ImageRejected("AVIF images are not accepted. " + SEND_PHOTO, "unsupported_format")
    if brands & {b"hevc", b"hevx", b"msf1"} and not brands & _HEIF_STILL_BRANDS:
        raise ImageRejected(
            "This is an image sequence or burst, not a single photo. Send one photo per image.",
            "multi_frame",
        )
    if major in _HEIF_BRANDS or brands & _HEIF_STILL_BRANDS:
        return "HEIF"
    if major in {b"qt  ", b"isom", b"mp41", b"mp42", b"M4V ", b"3gp4", b"3gp5"}:
        raise ImageRejected("This is a video. Please send a still photo.", "not_an_image")
    raise ImageRejected("This file type is not accepted. " + SEND_PHOTO, "unsupported_format")


def _describe_non_image(head: bytes) -> str:
    text = head[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%PDF"):
        return "This is a PDF document, not a photo. " + SEND_PHOTO
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF images are not accepted (they may be animations). " + SEND_PHOTO
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF files are not accepted. " + SEND_PHOTO
    if head.startswith(b"BM"):
        return "BMP files are not accepted. " + SEND_PHOTO
    if head.startswith(b"PK\x03\x04"):
        return "This is a zip archive or office document, not a photo. " + SEND_PHOTO
    if b"<svg" in text:
        return "SVG drawings are not accepted. " + SEND_PHOTO
    if text.startswith((b"<!doctype html", b"<html", b"<")):
        return "This is a web page or markup, not a photo. " + SEND_PHOTO
    if all(32 <= byte < 127 or byte in (9, 10, 13) for byte in head[:512]):
        return "This is a text file, not a photo. " + SEND_PHOTO
    return "This file is not a photo DermBridge can read. " + SEND_PHOTO


def scan_png_chunks(data: bytes, max_text_bytes: int) -> None:
    """Walk PNG chunks before decoding: reject text bombs, animations and broken structure."""
    pos = len(_PNG_SIGNATURE)
    text_total = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body_start = pos + 8
        body_end = body_start + length
        if body_end + 4 > len(data):
            raise ImageRejected(
                "The file is cut off (truncated). Please send it again.", "truncated"
            )
        if kind == b"acTL":
            raise ImageRejected(
                "Animated images are not accepted. Send a single still photo.", "multi_frame"
            )
        if kind in _PNG_TEXT_CHUNKS:
            text_total += _png_text_size(kind, data[body_start:body_end], max_text_bytes)
            if text_total > max_text_bytes:
                raise ImageRejected(
                    "The file carries an oversized text block (possible decompression bomb). "
                    + SEND_PHOTO,
                    "bomb",
                )
        if kind == b"IEND":
            return
        pos = body_end + 4
    raise ImageRejected("The file is cut off (truncated). Please send it again.", "truncated")


def _png_text_size(kind: bytes, body: bytes, limit: int) -> int:
    """Size of a text chunk once inflated, reading no more than ``limit + 1`` bytes of it."""
    keyword_end = body.find(b"\x00")
    if kind == b"tEXt" or keyword_end < 0:
        return len(body)
    if kind == b"zTXt":
        compressed = body[keyword_end + 2 :]
    else:  # iTXt: keyword NUL flag method language NUL translated NUL text
        if keyword_end + 1 >= len(body) or body[keyword_end + 1] == 0:
            return len(body)
        rest = body[keyword_end + 3 :]
        parts = rest.split(b"\x00", 2)
        compressed = parts[2] if len(parts) == 3 else b""
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(compressed, limit + 1)
    except zlib.error:
        return len(body)
    return len(inflated) + (limit + 1 if inflater.unconsumed_tail else 0)


class ReadUpload(Step):
    """Read the upload within the size limit and fingerprint the original bytes."""

    name = "read"

    def __init__(self, source: BinaryIO) -> None:
        self.source = source

    def run(self, work: ImageWork) -> None:
        cfg = work.config
        work.data = read_within_limit(self.source, cfg.max_bytes, cfg.read_chunk_bytes)
        work.source_sha256 = hashlib.sha256(work.data).hexdigest()


class IdentifyFormat(Step):
    """Identify the container from its signature; reject everything that is not a still photo."""

    name = "identify"

    def run(self, work: ImageWork) -> None:
        work.source_format = sniff_format(work.data[:64])
        if work.source_format == "PNG":
            scan_png_chunks(work.data, work.config.max_png_text_bytes)
        # A progressive JPEG built from thousands of tiny scans stalls the decoder for minutes
        # (libjpeg-turbo's "scan bomb"); cameras write at most a few dozen. Marker bytes are
        # escaped inside compressed data, so counting them is exact up to any trailer.
        if work.source_format == "JPEG" and work.data.count(b"\xff\xda") > MAX_JPEG_SCANS:
            raise ImageRejected(
                "The file is damaged or built to stall image decoders. "
                "Please take or export the photo again.",
                "corrupt",
            )


class InspectHeader(Step):
    """Open the image lazily and apply the pixel, frame and size limits from its header."""

    name = "inspect"

    def run(self, work: ImageWork) -> None:
        import io

        cfg = work.config
        try:
            with warnings.catch_warnings():
                # Our pixel limit applies below; Pillow's warnings (its own pixel limit, damaged
                # metadata we discard anyway) are not for the photographer.
                warnings.simplefilter("ignore")
                image = Image.open(io.BytesIO(work.data), formats=[work.source_format])
        except Image.DecompressionBombError as exc:
            raise _too_many_pixels(cfg.max_pixels) from exc
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
            raise _corrupt(work.source_format) from exc
        width, height = image.size
        if width <= 0 or height <= 0:
            raise _corrupt(work.source_format)
        if width * height > cfg.max_pixels:
            raise _too_many_pixels(cfg.max_pixels)
        # MPO is a JPEG whose extra frames are a phone's depth map or preview, not a sequence:
        # the primary image is the photo and the rest is discarded with the other metadata.
        if image.format != "MPO" and getattr(image, "n_frames", 1) > 1:
            raise ImageRejected(
                "Animated or multi-frame images are not accepted. Send a single still photo.",
                "multi_frame",
            )
        if min(width, height) < cfg.min_short_side:
            raise ImageRejected(
                f"The photo is too small ({width} x {height} pixels) to be useful clinically: "
                f"at least {cfg.min_short_side} pixels on the short side are needed. "
                "Send the original from the camera, not a screenshot or a messaging-app copy.",
                "too_small",
            )
        work.image = image


class DecodePixels(Step):
    """Decode the pixels once; a file that fails here is cut off or damaged."""

    name = "decode"

    def run(self, work: ImageWork) -> None:
        image = work.require_image()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image.load()
        except (OSError, SyntaxError, ValueError, struct.error, EOFError, MemoryError) as exc:
            message = str(exc).lower()
            if "truncated" in message or "premature" in message or isinstance(exc, EOFError):
                raise ImageRejected(
                    "The file is cut off (truncated). Please send it again.", "truncated"
                ) from exc
            raise _corrupt(work.source_format) from exc


def _too_many_pixels(max_pixels: int) -> ImageRejected:
    return ImageRejected(
        f"The image has more than {max_pixels / 1e6:.0f} million pixels. "
        "Use the phone's standard photo mode, not a panorama or a 200 MP mode.",
        "too_many_pixels",
    )


def _corrupt(fmt: str) -> ImageRejected:
    return ImageRejected(
        f"The file looks like a {fmt} image but is damaged and cannot be read. "
        "Please take or export the photo again.",
        "corrupt",
    )
