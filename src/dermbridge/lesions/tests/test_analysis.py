"""The lesion measurement on photos of known scale (the full grid is lesions/calibration.py,
reported in docs/lesions.md): diameter from the dermatoscope's field of view, colours,
asymmetry, and a clear refusal when there is nothing to measure."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dermbridge.lesions.analysis import NotMeasurable, aligned_crop, measure_photo
from dermbridge.lesions.synthetic import close_up_with_ruler, dermoscopic_disc


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.mark.parametrize(("diameter", "fov"), [(3.0, 25.0), (8.0, 20.0), (12.0, 25.0)])
def test_the_diameter_is_measured_in_mm_from_the_field_of_view(diameter: float, fov: float) -> None:
    photo = dermoscopic_disc(diameter_mm=diameter, fov_mm=fov, width=1024, height=768, seed=3)
    m = measure_photo(photo, fov_mm=fov)
    assert m.aperture and m.diameter_mm is not None and m.diameter_mm_uncertainty is not None
    assert abs(m.diameter_mm - diameter) <= max(0.25, 0.04 * diameter)
    assert 0 < m.diameter_mm_uncertainty < 0.5
    assert m.centroid == pytest.approx((0.5, 0.5), abs=0.01)
    assert m.colours == ["dark brown"] and m.asymmetry < 0.05


def test_without_a_known_field_of_view_only_pixels_are_given() -> None:
    m = measure_photo(dermoscopic_disc(diameter_mm=6, width=800, height=600), fov_mm=None)
    assert m.diameter_mm is None and m.mm_per_px is None and m.diameter_px > 50


def test_two_colours_and_an_asymmetric_outline_are_seen() -> None:
    two = measure_photo(dermoscopic_disc(diameter_mm=8, two_tone=True, seed=2), fov_mm=25)
    assert sorted(two.colours) == ["black", "dark brown"]
    # A comma: a disc with a smaller disc fused on one side.
    image = Image.new("RGB", (800, 600), (226, 178, 148))
    draw = ImageDraw.Draw(image)
    draw.ellipse((300, 220, 460, 380), fill=(110, 70, 50))
    draw.ellipse((430, 260, 520, 340), fill=(110, 70, 50))
    comma = measure_photo(jpeg(image), fov_mm=None)
    round_ = measure_photo(dermoscopic_disc(diameter_mm=8, seed=5), fov_mm=25)
    assert comma.asymmetry > 0.08 > round_.asymmetry
    assert comma.asymmetry_uncertainty >= 0


def test_a_photo_with_nothing_to_measure_is_refused_in_words() -> None:
    plain = jpeg(Image.new("RGB", (640, 480), (220, 180, 150)))
    with pytest.raises(NotMeasurable, match="no contrast"):
        measure_photo(plain, fov_mm=25)


def test_the_aligned_crop_is_centred_on_the_lesion_at_the_size_asked() -> None:
    photo = dermoscopic_disc(diameter_mm=5, offset=(4.0, 3.0), width=800, height=600)
    m = measure_photo(photo, fov_mm=25)
    assert m.centroid[0] > 0.55 and m.centroid[1] > 0.55  # off centre, as drawn
    crop = Image.open(io.BytesIO(aligned_crop(photo, m.centroid, 0.2, 240))).convert("L")
    assert crop.size == (240, 240)
    pixels = np.asarray(crop, dtype=float)
    assert pixels[110:130, 110:130].mean() < 120 < pixels[:10, :10].mean()


@pytest.mark.parametrize("vertical", [False, True])
@pytest.mark.parametrize(("diameter", "px_per_mm"), [(4.0, 16.0), (10.0, 25.0)])
def test_a_millimetre_ruler_in_a_close_up_gives_the_scale(
    diameter: float, px_per_mm: float, vertical: bool
) -> None:
    photo = close_up_with_ruler(diameter_mm=diameter, px_per_mm=px_per_mm, vertical=vertical)
    m = measure_photo(photo, fov_mm=None)  # no dermatoscope: the ruler is the only scale
    assert m.scale_source == "ruler" and m.diameter_mm is not None
    assert m.diameter_mm_uncertainty is not None
    assert abs(m.diameter_mm - diameter) <= 2 * m.diameter_mm_uncertainty
    assert abs(m.diameter_mm - diameter) <= 0.3


def test_no_ruler_is_found_where_there_is_none() -> None:
    from skimage import color

    from dermbridge.imaging.synthetic import lesion_photo
    from dermbridge.lesions.analysis import ruler_scale

    # The demo's photos have a regular pigment network: periodic, but not a ruler.
    for photo in (
        lesion_photo(1024, 768, seed=1, kind="dermoscopic"),
        lesion_photo(1024, 768, seed=2, kind="close_up"),
        dermoscopic_disc(diameter_mm=6, width=800, height=600),
    ):
        grey = color.rgb2gray(np.asarray(Image.open(io.BytesIO(photo)).convert("RGB")) / 255.0)
        assert ruler_scale(grey) is None
    m = measure_photo(dermoscopic_disc(diameter_mm=6, width=800, height=600), fov_mm=None)
    assert m.scale_source == "" and m.diameter_mm is None
