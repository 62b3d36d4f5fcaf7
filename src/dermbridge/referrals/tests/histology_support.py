"""A referral answered with a biopsy request, and a laboratory's report for it as FHIR R4."""

from __future__ import annotations

from typing import Any

from dermbridge.personas import DEFAULT_LESION
from dermbridge.referrals import services
from dermbridge.referrals.models import LesionOutcome, Referral, State
from dermbridge.testing import World, make_referral

NOSE = {**DEFAULT_LESION, "body_site_code": "45206002", "laterality": "", "pigmented": False}
TEXTS = {
    "management_plan": "Biopsy the nose.",
    "advice_to_referrer": "Back benign; nose biopsy.",
    "patient_explanation": "The mole on your back is harmless; we will test the mark on your nose.",
}


def biopsied(world: World, *, service: Any = None, nose: str = "400182000") -> Referral:
    """Two lesions: the back discharged, the nose (diagnosed ``nose``) sent for biopsy."""
    referral = make_referral(
        world, state=State.IN_REVIEW, lesions=[DEFAULT_LESION, NOSE], service=service
    )
    reviewer = world.dora if service == world.service_b else world.derek
    services.record_outcome(
        referral,
        user=reviewer,
        action="triage",
        lesions=[
            {"lesion": 1, "diagnosis_code": "400182000", "management": "discharge"},
            {"lesion": 2, "diagnosis_code": nose, "management": "biopsy"},
        ],
        **TEXTS,
    )
    return referral


def request_of(referral: Referral, number: int = 2) -> LesionOutcome:
    return LesionOutcome.objects.get(lesion__referral=referral, lesion__number=number)


def report(request_id: str, **over: Any) -> dict[str, Any]:
    """A pathology DiagnosticReport as a laboratory would send it."""
    body: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "contained": [
            {
                "resourceType": "Observation",
                "id": "m1",
                "status": "final",
                "code": {
                    "coding": [
                        {
                            "system": "https://dermbridge.invalid/fhir/CodeSystem/histology-observation",
                            "code": "margin-status",
                        }
                    ]
                },
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "https://dermbridge.invalid/fhir/CodeSystem/margin-status",
                            "code": "clear",
                        }
                    ]
                },
            },
            {
                "resourceType": "Observation",
                "id": "m2",
                "status": "final",
                "code": {
                    "coding": [
                        {
                            "system": "https://dermbridge.invalid/fhir/CodeSystem/histology-observation",
                            "code": "margin-distance",
                        }
                    ]
                },
                "valueQuantity": {"value": 2.5, "unit": "mm", "code": "mm"},
            },
        ],
        "identifier": [{"system": "https://lab.example.nhs.uk/report", "value": "H26-00123"}],
        "basedOn": [{"identifier": {"value": request_id}}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "60567-5"}]},
        "effectiveDateTime": "2026-11-20",
        "performer": [{"display": "City Hospital Cellular Pathology"}],
        "result": [{"reference": "#m1"}, {"reference": "#m2"}],
        "conclusion": "Nodular basal cell carcinoma, completely excised.",
        "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "254701007"}]}],
    }
    body.update(over)
    return body
