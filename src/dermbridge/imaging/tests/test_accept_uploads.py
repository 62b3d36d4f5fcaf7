"""Several photos chosen together are accepted together, or not at all."""

from __future__ import annotations

from io import BytesIO

import pytest

from dermbridge.core.errors import InvalidImage
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.services import accept_uploads
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.testing import World, make_referral


def test_it_accepts_several_photos_of_one_type(world: World) -> None:
    lesion = make_referral(world, images=False).lesions.get()
    photo = lesion_photo(320, 240, seed=5, kind="close_up")
    images = accept_uploads(
        lesion,
        user=world.alice,
        image_type="close_up",
        files=[BytesIO(photo), BytesIO(photo + b"\0")],
    )
    assert [i.image_type for i in images] == ["close_up", "close_up"]
    assert LesionImage.objects.filter(lesion=lesion).count() == 2


def test_it_refuses_the_lot_when_one_file_is_bad(world: World) -> None:
    """GIVEN two photos, one of them an empty file WHEN they are uploaded together
    THEN neither is kept and the error names the problem."""
    lesion = make_referral(world, images=False).lesions.get()
    photo = lesion_photo(320, 240, seed=6, kind="overview")
    with pytest.raises(InvalidImage, match="The file is empty"):
        accept_uploads(
            lesion, user=world.alice, image_type="overview", files=[BytesIO(photo), BytesIO(b"")]
        )
    assert not LesionImage.objects.filter(lesion=lesion).exists()


def test_it_needs_at_least_one_file(world: World) -> None:
    lesion = make_referral(world, images=False).lesions.get()
    with pytest.raises(InvalidImage, match="Choose at least one photo"):
        accept_uploads(lesion, user=world.alice, image_type="overview", files=[])
