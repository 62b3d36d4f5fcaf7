"""Running the triage model on a dermoscopic image and keeping its answer with the case.

The model suggests; clinicians decide. A missing or corrupt model means no AI assessment,
never an error for the clinician.
"""

from __future__ import annotations

import logging
from io import BytesIO

from django.db import transaction
from django.db.models import Max
from PIL import Image

from dermbridge.audit.services import record
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.imaging.storage import blob_store
from dermbridge.referrals.models import Referral
from dermbridge.triage.models import Assessment

log = logging.getLogger(__name__)


def assess_image(image_id: int) -> Assessment | None:
    """Assess one processed dermoscopic image with the shipped model. Safe to run twice."""
    from dermbridge.triage.inference import get_model

    image = LesionImage.objects.select_related("lesion__referral").filter(pk=image_id).first()
    if (
        image is None
        or image.status != ImageStatus.READY
        or image.image_type != ImageType.DERMOSCOPIC
    ):
        return None
    model = get_model()
    if model is None:
        log.info("triage model unavailable: image %s left without an AI assessment", image_id)
        return None
    existing = Assessment.objects.filter(image=image, model_version=model.version).first()
    if existing is not None:
        return existing
    address = image.derivative_address("ai_input")
    if address is None:
        return None
    with Image.open(BytesIO(blob_store().get(address))) as pil:
        result = model.assess(pil.convert("RGB"))
    with transaction.atomic():
        assessment, created = Assessment.objects.get_or_create(
            image=image,
            model_version=result.model_version,
            defaults={
                "input_sha256": result.input_sha256,
                "probabilities": result.probabilities,
                "malignant_probability": None if result.abstained else result.malignant_probability,
                "malignant_interval": list(
                    getattr(result, "malignant_probability_interval", ()) or ()
                ),
                "band": result.band or "",
                "abstained": result.abstained,
                "abstention_reason": result.abstention_reason or "",
            },
        )
        if created:
            record(None, "triage.assess", assessment, detail={"model": result.model_version})
            update_referral_risk(image.lesion.referral_id)
    return assessment


BAND_ORDER = {"high": 3, "intermediate": 2, "low": 1, "": 0}


def update_referral_risk(referral_id: int) -> None:
    """The worklist orders by the riskiest lesion: the highest malignancy probability."""
    assessments = Assessment.objects.filter(image__lesion__referral_id=referral_id, abstained=False)
    risk = assessments.aggregate(m=Max("malignant_probability"))["m"]
    band = max((a.band for a in assessments), key=lambda b: BAND_ORDER.get(b, 0), default="")
    Referral.objects.filter(pk=referral_id).update(
        ai_risk=risk, ai_sort=-1.0 if risk is None else risk, ai_band=band
    )


def assessments_for(referral: Referral) -> list[Assessment]:
    return list(
        Assessment.objects.filter(image__lesion__referral=referral)
        .select_related("image__lesion")
        .order_by("image__lesion__number", "image_id")
    )
