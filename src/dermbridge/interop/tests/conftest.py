"""Fixtures for interop tests: a reviewed referral with an AI assessment and a message."""

from __future__ import annotations

import io
from typing import Any

import pytest

from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.imaging.services import accept_upload
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.referrals import services
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.testing import World, make_referral
from dermbridge.triage.models import Assessment


def with_assessment(referral: Referral, *, abstained: bool = False) -> Assessment:
    image = referral.lesions.get().images.get(image_type=ImageType.DERMOSCOPIC)
    image.dermoscopy_mode = "contact_polarised"
    image.save(update_fields=["dermoscopy_mode"])
    return Assessment.objects.create(
        image=image,
        model_version="test-1",
        input_sha256="0" * 64,
        probabilities={"melanoma": 0.62, "naevus": 0.30, "bcc": 0.08},
        malignant_probability=None if abstained else 0.70,
        malignant_interval=[] if abstained else [0.61, 0.78],
        band="" if abstained else "high",
        abstained=abstained,
        abstention_reason="Image out of distribution" if abstained else "",
    )


@pytest.fixture
def triaged(world: World) -> Referral:
    """A USC referral, triaged by derek, with an AI assessment and a message from alice."""
    referral = make_referral(world, state=State.IN_REVIEW, kind=ReferralKind.URGENT_CANCER)
    with_assessment(referral)
    services.post_message(referral, user=world.alice, body="Patient anxious; lesion bled once.")
    services.record_outcome(
        referral,
        user=world.derek,
        action="triage",
        diagnosis_code="372244006",
        management_plan="Urgent excision biopsy.",
        advice_to_referrer="Seen in USC clinic.",
        patient_explanation="We need to see you soon to remove this mole.",
        pathway_decision="biopsy",
    )
    return Referral.objects.get(pk=referral.pk)


@pytest.fixture
def photographed(world: World, django_capture_on_commit_callbacks: Any) -> Referral:
    """A draft whose three images went through the real pipeline (640 px and up)."""
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    with django_capture_on_commit_callbacks(execute=True):
        for seed, (kind, mode) in enumerate(
            [
                (ImageType.OVERVIEW, ""),
                (ImageType.CLOSE_UP, ""),
                (ImageType.DERMOSCOPIC, "contact_non_polarised"),
            ]
        ):
            accept_upload(
                lesion,
                user=world.alice,
                fileobj=io.BytesIO(lesion_photo(800, 640, seed=seed, kind=kind)),
                image_type=kind,
                dermoscopy_mode=mode,
            )
    assert set(LesionImage.objects.filter(lesion=lesion).values_list("status", flat=True)) == {
        ImageStatus.READY
    }
    return referral
