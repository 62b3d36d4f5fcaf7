"""Intake: unusable or hostile uploads are refused with a reason the photographer can act on."""

from __future__ import annotations

import io
from typing import BinaryIO, cast

import numpy as np
import pytest
from PIL import Image

from dermbridge.imaging.pipeline import ImageRejected, PipelineConfig, process_image
from dermbridge.imaging.pipeline.intake import read_within_limit

from . import corpus


def rejection(data: bytes, config: PipelineConfig | None = None) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        process_image(io.BytesIO(data), declared_type="close_up", config=config)
    assert caught.value.reason, "every rejection must say why"
    return caught.value


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return corpus.encode(corpus.skin_photo(), "JPEG", quality=90)


@pytest.fixture(scope="module")
def png() -> bytes:
    return corpus.encode(corpus.skin_photo(), "PNG")


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", "empty", "empty"),
        (b"Patient has a mole on the back\n", "not_an_image", "text file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "not_an_image", "PDF"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "not_an_image", "SVG"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "not_an_image", "web page"),
        (b"PK\x03\x04" + b"\x00" * 40, "not_an_image", "zip"),
        (b"\xff\xd8", "truncated", "cut off"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "unsupported_format", "AVIF"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "not_an_image", "video"),
    ],
)
def test_it_rejects_non_images_by_content(data: bytes, code: str, words: str) -> None:
    """GIVEN bytes that are not a photo WHEN processed THEN rejected with a specific reason."""
    error = rejection(data)
    assert error.code == code
    assert words.lower() in error.reason.lower()


def test_it_rejects_a_gif_html_polyglot() -> None:
    """GIVEN a file that is both a GIF and a web page WHEN processed THEN refused as a GIF."""
    error = rejection(corpus.gif_html_polyglot())
    assert error.code == "not_an_image"
    assert "GIF" in error.reason


def test_it_rejects_html_with_an_embedded_jpeg() -> None:
    """GIVEN a web page that carries a JPEG inside WHEN processed THEN refused: content decides."""
    page = b"<html><img src='x'>" + corpus.encode(corpus.skin_photo(), "JPEG") + b"</html>"
    assert rejection(page).code == "not_an_image"


def test_it_rejects_truncated_and_corrupt_files(jpeg: bytes, png: bytes) -> None:
    """GIVEN a photo cut off in transfer or with damaged data THEN truncated / corrupt."""
    assert rejection(jpeg[: len(jpeg) // 2]).code == "truncated"
    assert rejection(png[: len(png) // 2]).code == "truncated"
    garbled = jpeg[:600] + bytes(range(256)) * 4
    assert rejection(garbled).code in {"truncated", "corrupt"}
    assert rejection(jpeg[:200]).code in {"truncated", "corrupt"}


def test_it_rejects_files_over_the_upload_limit_without_reading_them_whole(jpeg: bytes) -> None:
    """GIVEN a stream longer than the limit WHEN read THEN reading stops a chunk past the limit."""

    class Endless(io.RawIOBase):
        served = 0

        def read(self, size: int = -1) -> bytes:
            self.served += size
            return b"\xff" * size

    stream = Endless()
    with pytest.raises(ImageRejected) as caught:
        read_within_limit(cast(BinaryIO, stream), max_bytes=5_000_000, chunk_bytes=64 * 1024)
    assert caught.value.code == "too_large"
    assert stream.served <= 5_000_000 + 64 * 1024
    error = rejection(jpeg, PipelineConfig(max_bytes=len(jpeg) - 1))
    assert error.code == "too_large" and "MB" in error.reason


def test_it_rejects_headers_claiming_enormous_sizes(jpeg: bytes, png: bytes) -> None:
    """GIVEN headers claiming 60,000 x 60,000 pixels THEN too_many_pixels, never decoded."""
    assert rejection(corpus.with_size_in_header(jpeg, 60000, 60000)).code == "too_many_pixels"
    assert rejection(corpus.png_with_ihdr_size(png, 100000, 100000)).code == "too_many_pixels"
    small_limit = PipelineConfig(max_pixels=800 * 640 - 1)
    assert rejection(jpeg, small_limit).code == "too_many_pixels"


@pytest.mark.parametrize("kind", ["zTXt", "iTXt"])
def test_it_rejects_png_text_chunk_bombs(png: bytes, kind: str) -> None:
    """GIVEN a PNG whose compressed text inflates to 64 MB WHEN processed THEN refused as a bomb."""
    error = rejection(corpus.png_text_bomb(png, kind=kind))
    assert error.code == "bomb"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_it_rejects_animated_and_multi_frame_images(fmt: str) -> None:
    """GIVEN an animation or image sequence WHEN processed THEN multi_frame."""
    frames = [corpus.skin_photo(seed=1), corpus.skin_photo(seed=2)]
    data = corpus.encode(frames[0], fmt, save_all=True, append_images=frames[1:])
    assert rejection(data).code == "multi_frame"


def test_it_rejects_images_too_small_to_be_clinically_useful() -> None:
    """GIVEN a 600 x 480 photo and the default 640 px minimum THEN too_small, naming the sizes."""
    data = corpus.encode(corpus.skin_photo(600, 480), "JPEG")
    error = rejection(data)
    assert error.code == "too_small"
    assert "600 x 480" in error.reason and "640" in error.reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_it_accepts_the_four_photo_formats_by_content(fmt: str) -> None:
    """GIVEN a good photo in each accepted format WHEN processed THEN accepted by content."""
    data = corpus.encode(corpus.skin_photo(), fmt)
    result = process_image(io.BytesIO(data), declared_type="close_up")
    assert result.source_format == fmt
    assert (result.width, result.height) == (800, 640)


def test_it_accepts_a_multi_picture_jpeg_keeping_only_the_primary_photo() -> None:
    """GIVEN a phone MPO (photo plus depth/preview frame) THEN the primary photo is kept."""
    primary, extra = corpus.skin_photo(seed=1), Image.new("RGB", (800, 640), (0, 0, 0))
    data = corpus.encode(primary, "MPO", save_all=True, append_images=[extra])
    result = process_image(io.BytesIO(data), declared_type="close_up")
    master = Image.open(io.BytesIO(result.derivatives["master"].data))
    assert master.format == "JPEG" and getattr(master, "n_frames", 1) == 1
    assert np.asarray(master.convert("L")).max() > 100  # not the black second frame


def test_header_checks_run_before_any_pixels_are_decoded(
    jpeg: bytes, png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN decoding made impossible WHEN header-decidable bad files arrive THEN still rejected.

    Proves the size, pixel-count and frame checks need no pixel buffer.
    """
    from PIL import ImageFile

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert rejection(corpus.with_size_in_header(jpeg, 60000, 60000)).code == "too_many_pixels"
    assert rejection(corpus.png_with_ihdr_size(png, 100000, 100000)).code == "too_many_pixels"
    assert rejection(corpus.encode(corpus.skin_photo(600, 480), "JPEG")).code == "too_small"
    assert rejection(corpus.png_text_bomb(png)).code == "bomb"
    frames = [corpus.skin_photo(seed=1), corpus.skin_photo(seed=2)]
    animated = corpus.encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert rejection(animated).code == "multi_frame"


def test_it_rejects_a_progressive_jpeg_scan_bomb(jpeg: bytes) -> None:
    """GIVEN a JPEG with thousands of scans (stalls decoders) THEN refused before decoding."""
    empty_scan = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    bomb = jpeg[:-2] + empty_scan * 5000 + b"\xff\xd9"
    assert rejection(bomb).code == "corrupt"
