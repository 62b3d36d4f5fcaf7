"""The histology loop's demo data (issue #14): Harold Pike's lesion on the nose, called a
suspected basal cell carcinoma by the demo dermatologist and biopsied, with a histology result
that disagrees with the AI's reading of its dermoscopic photo. If the AI read it as high or
intermediate risk the histology is a benign seborrhoeic keratosis (an AI false alarm); if it
read it as low risk the histology is a basal cell carcinoma -- a missed cancer by the AI, so the
service dashboard's concordance page shows a missed-cancer event awaiting review. A second
lesion (back, likely naevus) is discharged, so his answer covers two lesions. Edith Marsh's
suspected squamous cell carcinoma on the back of her hand was sent for excision twelve days ago
and has no result yet: the service's "Awaiting histology" list is not empty.

dermbridge.demo calls ``load_histology_demo`` once, after the AI has read the demo photos.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from dermbridge.personas import DEFAULT_LESION, World, make_patient, make_referral
from dermbridge.referrals import histology, services
from dermbridge.referrals.models import LesionOutcome, Referral, ReferralKind, State
from dermbridge.triage.models import Assessment
from dermbridge.triage.services import assess_image

NOSE = {
    "body_site_code": "45206002",
    "laterality": "",
    "size_mm": 6,
    "description": "Pearly papule with surface vessels",
    "pigmented": False,
}
BCC, SK, SCC = "254701007", "394726009", "254651007"
HAND = {
    "body_site_code": "281642007",
    "laterality": "right",
    "size_mm": 9,
    "description": "Tender keratotic nodule, grown over 8 weeks",
    "pigmented": False,
}


def load_histology_demo(world: World, add_image: Any) -> Referral:
    patient = make_patient(
        world.practice_a,
        world.alice,
        given_name="Harold",
        family_name="Pike",
        date_of_birth=date(1952, 5, 9),
        sex="male",
        fitzpatrick="II",
        email="harold.pike@example.org",
        contact_preference="email",
    )
    referral = make_referral(
        world,
        state=State.IN_REVIEW,
        kind=ReferralKind.TRIAGE,
        patient=patient,
        question="Non-healing papule on the nose for 6 months; also a mole on the back.",
        lesions=[NOSE, DEFAULT_LESION],
        add_image=add_image,
    )
    nose = referral.lesions.get(number=1)
    for image in nose.images.filter(image_type="dermoscopic"):
        assess_image(image.pk)  # the shipped model's reading, now (the demo runs no worker)
    reading = (
        Assessment.objects.filter(image__lesion=nose, abstained=False)
        .order_by("-malignant_probability")
        .first()
    )
    services.record_outcome(
        referral,
        user=world.derek,
        action="triage",
        lesions=[
            {"lesion": 1, "diagnosis_code": BCC, "management": "biopsy"},
            {"lesion": 2, "diagnosis_code": "400182000", "management": "discharge"},
        ],
        management_plan="Punch biopsy of the nose lesion; the back is a benign naevus.",
        advice_to_referrer="Nose: suspected basal cell carcinoma, biopsy booked. Back: benign naevus.",
        patient_explanation=(
            "The mark on your nose may be a slow-growing skin cancer that is very treatable; we "
            "will take a small sample to check. The mole on your back looks harmless."
        ),
    )
    ai_flagged = reading is not None and reading.band in ("high", "intermediate")
    request = LesionOutcome.objects.get(lesion=nose)
    histology.record_result(
        request,
        user=world.derek,
        data={
            "morphology_code": SK if ai_flagged else BCC,
            "reported_on": timezone.localdate(),
            "report_text": (
                "Seborrhoeic keratosis. No atypia. No evidence of malignancy."
                if ai_flagged
                else "Nodular basal cell carcinoma, 4 mm, completely excised."
            ),
            "margins": "clear",
            "margin_mm": "1.5",
            "laboratory": "City Hospital Cellular Pathology",
        },
        report_system="https://lab.example.nhs.uk/report",
        report_identifier="H26-DEMO-001",
    )
    load_awaiting_histology(world, add_image)
    return referral


def load_awaiting_histology(world: World, add_image: Any) -> Referral:
    """Edith Marsh: a suspected SCC sent for excision 12 days ago, no histology yet."""
    patient = make_patient(
        world.practice_a,
        world.alice,
        given_name="Edith",
        family_name="Marsh",
        date_of_birth=date(1941, 11, 2),
        sex="female",
        fitzpatrick="I",
        email="edith.marsh@example.org",
        contact_preference="email",
    )
    referral = make_referral(
        world,
        state=State.IN_REVIEW,
        kind=ReferralKind.TRIAGE,
        patient=patient,
        question="Rapidly growing tender nodule on the back of the right hand.",
        lesions=[HAND],
        add_image=add_image,
    )
    services.record_outcome(
        referral,
        user=world.derek,
        action="triage",
        lesions=[{"lesion": 1, "diagnosis_code": SCC, "management": "excision"}],
        management_plan="Excision with a 4 mm margin at the skin surgery list.",
        advice_to_referrer="Suspected squamous cell carcinoma: excision booked on the USC pathway.",
        patient_explanation=(
            "The lump on your hand may be a skin cancer that is usually cured by removing it. "
            "We have booked a small operation to take it out and check it under the microscope."
        ),
    )
    LesionOutcome.objects.filter(lesion__referral=referral).update(
        recorded_at=timezone.now() - timedelta(days=12)
    )
    return referral
