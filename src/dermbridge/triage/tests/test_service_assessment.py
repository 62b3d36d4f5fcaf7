"""The shipped model assessing images through the service, and what the photographer is told."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from dermbridge.imaging import quality_review
from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.referrals.models import State
from dermbridge.testing import make_referral
from dermbridge.triage import services
from dermbridge.triage.inference import get_model


@pytest.fixture
def model():  # type: ignore[no-untyped-def]
    shipped = get_model()
    if shipped is None:
        pytest.skip("no shipped triage model in src/dermbridge/triage/models")
    return shipped


def test_it_tells_the_photographer_when_a_dermoscopic_photo_does_not_look_dermoscopic(world, model):
    """GIVEN an image labelled dermoscopic that is a flat grey frame
    WHEN the triage model assesses it
    THEN the model abstains, the case sorts as "declined" (above intermediate, never as low
    risk: ADR 0002), and the photographer sees the AI's
    own note, never a photo-quality warning (issue #9: the abstention is the AI's limit)."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    image = LesionImage.objects.get(lesion__referral=referral, image_type=ImageType.DERMOSCOPIC)
    grey = Image.fromarray(np.full((150, 200, 3), 128, dtype=np.uint8))
    out = BytesIO()
    grey.save(out, "JPEG")
    from dermbridge.imaging.storage import blob_store

    address = blob_store().put(out.getvalue())
    image.derivatives = {
        **image.derivatives,
        "ai_input": {**image.derivatives["ai_input"], "address": address},
    }
    image.save()
    assessment = services.assess_image(image.pk)
    assert assessment is not None and assessment.abstained and assessment.abstention_reason
    referral.refresh_from_db()
    assert referral.ai_risk is None and referral.ai_band == "declined"
    assert referral.ai_sort == 3.5  # above any intermediate (2 + p), below any high (4 + p)
    image.refresh_from_db()
    assert "dermoscopic_label" not in image.quality and image.quality_warnings == []
    if assessment.abstention_reason in services.NOT_DERMOSCOPIC_REASONS:
        assert quality_review.ai_note(image) == quality_review.AI_NOT_DERMOSCOPIC_NOTE
    else:  # declined by the model's own input gate (blank frame)
        assert quality_review.ai_note(image) == quality_review.AI_OTHER_NOTE
    assert quality_review.review(image).verdict == quality_review.Verdict.PASSED
    assert services.assess_image(image.pk) == assessment  # safe to run twice


def test_it_flags_a_synthetic_photo_labelled_dermoscopic(world, model):
    """The project's synthetic photos are not dermoscopic images: the model declines them as such."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    image = LesionImage.objects.get(lesion__referral=referral, image_type=ImageType.DERMOSCOPIC)
    assessment = services.assess_image(image.pk)
    assert assessment is not None and assessment.abstained
    assert assessment.abstention_reason in services.NOT_DERMOSCOPIC_REASONS
    image.refresh_from_db()
    assert "dermoscopic_label" not in image.quality
    assert quality_review.ai_note(image) == quality_review.AI_NOT_DERMOSCOPIC_NOTE
