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
from dermbridge.referrals.models import Outcome, Referral
from dermbridge.referrals.services import set_ai_state
from dermbridge.triage.display import DECLINED
from dermbridge.triage.inference import COLOUR_REASON, OOD_REASON, get_model
from dermbridge.triage.metadata import SNOMED_TO_SITE, LesionMetadata
from dermbridge.triage.models import Agreement, Assessment

log = logging.getLogger(__name__)


# Abstentions that mean "this is not a dermoscopic photo" (as opposed to "too degraded"). They are
# the AI's own limit, not the photo's quality: kept on the Assessment and shown as the AI's note
# (imaging.quality_review.ai_note), never written into LesionImage.quality.
NOT_DERMOSCOPIC_REASONS = frozenset({COLOUR_REASON, OOD_REASON})


def lesion_metadata(image: LesionImage) -> LesionMetadata:
    """Age (at the referral), sex and body site of the lesion in ``image``, as the model reads
    them; whatever is not recorded stays missing (models with metadata fusion accept that)."""
    lesion = image.lesion
    referral = lesion.referral
    patient = referral.patient
    day = (referral.submitted_at or referral.created_at).date()
    age = patient.age_on(day) if patient.date_of_birth else None
    sex = patient.sex if patient.sex in ("male", "female") else None
    return LesionMetadata(age=age, sex=sex, site=SNOMED_TO_SITE.get(lesion.body_site_code))


def assess_image(image_id: int) -> Assessment | None:
    """Assess one processed dermoscopic image with the shipped model. Safe to run twice."""
    image = (
        LesionImage.objects.select_related("lesion__referral__patient").filter(pk=image_id).first()
    )
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
        result = model.assess(pil.convert("RGB"), lesion_metadata(image))
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


# A referral's AI state, most urgent first. "declined" (the AI looked at a dermoscopic photo and
# would not assess it) ranks above intermediate: the AI could not rule cancer out, so the case
# must never sort as if it were low risk (docs/adr/0002-worklist-sort-key.md).
BAND_ORDER = {"high": 4, DECLINED: 3, "intermediate": 2, "low": 1, "": 0}


def referral_ai_state(bands: list[str], abstained: int, risk: float | None) -> tuple[str, float]:
    """(ai_band, ai_sort) of a referral from its assessments' bands, how many declined, and the
    highest malignancy probability. The sort key is the band's rank plus the probability
    (0 <= p < 1 is assumed), so the bands never interleave: high (4 + p) > declined (3.5) >
    intermediate (2 + p) > low (1 + p) > nothing to assess (-1)."""
    candidates = [*bands, *([DECLINED] if abstained else [])]
    state = max(candidates, key=lambda b: BAND_ORDER.get(b, 0), default="")
    if state == DECLINED:
        return state, 3.5
    if state == "" or risk is None:
        return "", -1.0
    return state, BAND_ORDER[state] + min(float(risk), 0.999999)


def update_referral_risk(referral_id: int) -> None:
    """The worklist orders by the riskiest lesion: the most urgent AI state, then the highest
    malignancy probability; a photo the AI declined counts above intermediate."""
    all_assessments = Assessment.objects.filter(image__lesion__referral_id=referral_id)
    assessed = all_assessments.filter(abstained=False)
    risk = assessed.aggregate(m=Max("malignant_probability"))["m"]
    bands = list(assessed.values_list("band", flat=True))
    declined = all_assessments.filter(abstained=True).count()
    band, sort = referral_ai_state(bands, declined, risk)
    # The referral's columns are the referral app's to write (ADR 0012).
    set_ai_state(referral_id, risk=risk, sort=sort, band=band)


def assessments_for(referral: Referral) -> list[Assessment]:
    return list(
        Assessment.objects.filter(image__lesion__referral=referral)
        .select_related("image__lesion")
        .order_by("image__lesion__number", "image_id")
    )


def _is_malignant(code: str) -> bool:
    from dermbridge.referrals.terminology import DIAGNOSES

    concept = DIAGNOSES.get(code)
    return bool(concept and (concept.malignant or concept.premalignant))


def record_agreement(referral_id: int) -> int:
    """Store AI vs dermatologist (vs histology) for each model that assessed the case. Idempotent."""
    outcome = Outcome.objects.filter(referral_id=referral_id).first()
    if outcome is None:
        return 0
    # The riskiest assessment per model version: the first of each version in this order.
    ranked = (
        Assessment.objects.filter(image__lesion__referral_id=referral_id, abstained=False)
        .exclude(malignant_probability=None)
        .order_by("model_version", "-malignant_probability")
        .values_list("model_version", "malignant_probability", "band")
    )
    by_version: dict[str, tuple[float, str]] = {}
    for version, probability, band in ranked:
        if probability is not None:  # excluded above; this narrows the type
            by_version.setdefault(version, (probability, band))
    for version, (probability, band) in by_version.items():
        Agreement.objects.update_or_create(
            referral_id=referral_id,
            model_version=version,
            defaults={
                "ai_malignant_probability": probability,
                "ai_band": band,
                "ai_suggests_malignant": band in ("high", "intermediate"),
                "dermatologist_diagnosis_code": outcome.diagnosis_code,
                "dermatologist_malignant": _is_malignant(outcome.diagnosis_code),
                "histology_code": outcome.histology_code,
                "histology_malignant": _is_malignant(outcome.histology_code)
                if outcome.histology_code
                else None,
            },
        )
    return len(by_version)


def agreement_report() -> list[dict[str, object]]:
    """Per model version: agreement with dermatologists, and sensitivity against histology."""
    rows = []
    versions = Agreement.objects.values_list("model_version", flat=True).distinct()
    for version in sorted(set(versions)):
        qs = list(Agreement.objects.filter(model_version=version))
        agree = sum(1 for a in qs if a.ai_suggests_malignant == a.dermatologist_malignant)
        histo = [a for a in qs if a.histology_malignant is not None]
        histo_pos = [a for a in histo if a.histology_malignant]
        rows.append(
            {
                "model_version": version,
                "cases": len(qs),
                "agreement_with_dermatologist": round(agree / len(qs), 3) if qs else None,
                "dermatologist_malignant_ai_low": sum(
                    1 for a in qs if a.dermatologist_malignant and not a.ai_suggests_malignant
                ),
                "with_histology": len(histo),
                "ai_sensitivity_vs_histology": round(
                    sum(1 for a in histo_pos if a.ai_suggests_malignant) / len(histo_pos), 3
                )
                if histo_pos
                else None,
                "dermatologist_sensitivity_vs_histology": round(
                    sum(1 for a in histo_pos if a.dermatologist_malignant) / len(histo_pos), 3
                )
                if histo_pos
                else None,
            }
        )
    return rows
