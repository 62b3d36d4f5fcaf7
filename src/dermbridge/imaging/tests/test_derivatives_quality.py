"""Derivatives with provenance, the e-RS size limit, and quality advice for the photographer."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from dermbridge.imaging.pipeline import (
    ImageRejected,
    PipelineConfig,
    ProcessedImage,
    QualityCheck,
    process_image,
)
from dermbridge.imaging.pipeline.derivatives import best_jpeg_within, encode_jpeg

from . import corpus


def process(
    image: Image.Image, declared_type: str = "close_up", **kwargs: object
) -> ProcessedImage:
    data = corpus.encode(image, "JPEG", quality=92)
    return process_image(io.BytesIO(data), declared_type=declared_type, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def good() -> ProcessedImage:
    return process(corpus.skin_photo(1600, 1200))


def test_it_makes_every_derivative_with_provenance(good: ProcessedImage) -> None:
    """GIVEN a 1600 x 1200 photo THEN master, viewer, thumbnail, AI input and e-RS, traceable."""
    d = good.derivatives
    master = d["master"]
    assert (master.width, master.height) == (1600, 1200) == (good.width, good.height)
    assert max(d["viewer"].width, d["viewer"].height) <= 2048
    assert max(d["thumbnail"].width, d["thumbnail"].height) == 320
    assert (d["ai_input"].width, d["ai_input"].height) == (200, 150)
    assert d["ai_input"].media_type == "image/png"
    assert d["ers"].size <= 5_000_000
    for derivative in d.values():
        assert derivative.sha256 == hashlib.sha256(derivative.data).hexdigest()
        assert derivative.master_sha256 == master.sha256
        assert derivative.size == len(derivative.data)
        assert Image.open(io.BytesIO(derivative.data)).size == (derivative.width, derivative.height)
    assert len(good.perceptual_hash) == 16


def test_it_sizes_the_ai_input_as_configured() -> None:
    """GIVEN a triage model that reads 224 x 224 THEN the AI input is exactly that."""
    result = process(corpus.skin_photo(), config=PipelineConfig(ai_input_size=(224, 224)))
    assert (result.derivatives["ai_input"].width, result.derivatives["ai_input"].height) == (
        224,
        224,
    )


def test_it_finds_the_best_jpeg_quality_that_fits_the_e_rs_limit() -> None:
    """GIVEN a limit below the master's size THEN the highest quality fitting it, at full size."""
    image = corpus.skin_photo(1600, 1200)
    limit = len(encode_jpeg(image, 80)) + 1
    data, size = best_jpeg_within(image, limit, max_quality=92, min_quality=60)
    assert size == (1600, 1200)
    assert len(data) <= limit
    assert len(encode_jpeg(image, 81)) > limit  # quality 81 would not have fitted


def test_it_scales_the_e_rs_attachment_down_only_when_quality_alone_cannot_fit() -> None:
    """GIVEN a limit smaller than the lowest acceptable quality THEN a smaller image that fits."""
    image = corpus.skin_photo(1600, 1200)
    limit = len(encode_jpeg(image, 60)) // 3
    result = process(image, config=PipelineConfig(ers_max_bytes=max(limit, 10_000)))
    ers = result.derivatives["ers"]
    assert ers.size <= max(limit, 10_000)
    assert ers.width < 1600 and ers.width / ers.height == pytest.approx(4 / 3, rel=0.02)


def test_a_good_photo_passes_every_check(good: ProcessedImage) -> None:
    """GIVEN a sharp, well-lit, centred photo THEN every check is ok and none blocks."""
    failing = {name: c.message for name, c in good.quality.items() if not c.ok}
    assert failing == {}
    assert all(isinstance(c, QualityCheck) and c.message for c in good.quality.values())


def darkened(image: Image.Image, factor: float) -> Image.Image:
    return Image.fromarray(np.clip(np.asarray(image) * factor, 0, 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("spoil", "check", "words"),
    [
        (lambda im: im.filter(ImageFilter.GaussianBlur(12)), "blur", "Blurred"),
        (lambda im: darkened(im, 0.15), "exposure", "Too dark"),
        (lambda im: darkened(im, 2.5), "exposure", "Too bright"),
    ],
    ids=["blurred", "dark", "bright"],
)
def test_it_tells_the_photographer_what_went_wrong(spoil, check: str, words: str) -> None:  # type: ignore[no-untyped-def]
    """GIVEN a spoilt photo THEN the matching check fails with advice."""
    result = process(spoil(corpus.skin_photo(1600, 1200)))
    assert not result.quality[check].ok
    assert words in result.quality[check].message


def test_it_flags_glare() -> None:
    """GIVEN specular white spots over the lesion THEN 'Glare on the lesion'."""
    pixels = np.asarray(corpus.skin_photo(1600, 1200)).copy()
    pixels[540:680, 730:870] = 255
    pixels[480:520, 680:760] = 255
    result = process(Image.fromarray(pixels))
    assert not result.quality["glare"].ok
    assert "Glare on the lesion" in result.quality["glare"].message


def test_it_flags_a_repeat_of_another_image_of_the_lesion(good: ProcessedImage) -> None:
    """GIVEN the same photo re-sent (re-encoded smaller) THEN 'Same as image 2'."""
    again = process(
        corpus.skin_photo(1600, 1200).resize((1200, 900)),
        other_hashes=["ffffffffffffffff", good.perceptual_hash],
    )
    assert not again.quality["duplicate"].ok
    assert "Same as image 2" in again.quality["duplicate"].message
    other = process(corpus.skin_photo(1600, 1200, seed=9).rotate(90, expand=True))
    assert other.quality["duplicate"].ok


def test_it_flags_a_dermatoscope_left_on_for_the_overview() -> None:
    """GIVEN a photo with a dermatoscope's dark circular surround labelled overview THEN flagged."""
    pixels = np.asarray(corpus.skin_photo(1600, 1200)).copy()
    y, x = np.mgrid[0:1200, 0:1600]
    pixels[np.hypot(y - 600, x - 800) > 620] = 5
    image = Image.fromarray(pixels)
    overview = process(image, declared_type="overview")
    assert not overview.quality["image_type"].ok
    assert (
        "Dermatoscope still attached for the overview photo"
        in overview.quality["image_type"].message
    )
    assert process(image, declared_type="dermoscopic").quality["image_type"].ok


def test_it_flags_a_small_or_off_centre_lesion() -> None:
    """GIVEN the lesion pushed into a corner THEN 'Lesion small or off-centre'."""
    photo = np.asarray(corpus.skin_photo(1600, 1200))
    shifted = np.roll(photo, (-450, -650), axis=(0, 1))
    result = process(Image.fromarray(shifted))
    assert not result.quality["framing"].ok
    assert "Lesion small or off-centre" in result.quality["framing"].message


def test_it_rejects_when_a_blocking_check_fails() -> None:
    """GIVEN a site that blocks blurred photos WHEN a blurred one arrives THEN it is rejected."""
    blurred = corpus.skin_photo(1600, 1200).filter(ImageFilter.GaussianBlur(12))
    with pytest.raises(ImageRejected) as caught:
        process(blurred, config=PipelineConfig(blocking_checks=frozenset({"blur"})))
    assert caught.value.code == "quality_blur"
    assert "hold the phone steady" in caught.value.reason


def test_it_refuses_to_configure_an_unknown_blocking_check() -> None:
    with pytest.raises(ValueError, match="unknown checks"):
        PipelineConfig(blocking_checks=frozenset({"sharpness"}))


def test_the_ai_input_of_a_portrait_photo_is_turned_not_cropped() -> None:
    """GIVEN a portrait photo with markers at its top and bottom THEN the landscape AI input
    keeps both (turned by 90 degrees), as the triage model's own preprocessing does."""
    pixels = np.asarray(corpus.skin_photo(960, 1280)).copy()
    pixels[:120, 400:560] = (0, 255, 0)  # top edge
    pixels[-120:, 400:560] = (0, 0, 255)  # bottom edge
    result = process(Image.fromarray(pixels))
    ai = result.derivatives["ai_input"]
    assert (ai.width, ai.height) == (200, 150)
    array = np.asarray(Image.open(io.BytesIO(ai.data)).convert("RGB")).astype(int)
    greenish = (array[..., 1] > 200) & (array[..., 0] < 80)
    bluish = (array[..., 2] > 200) & (array[..., 0] < 80)
    assert greenish.sum() > 50 and bluish.sum() > 50
