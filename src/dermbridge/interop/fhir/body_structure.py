"""A patient's lesion (lesions.PatientLesion) as a FHIR R4 BodyStructure, validated with
fhir.resources (R4B models, as every resource here).

One BodyStructure per lesion on the patient, for its whole life: `id` and the first identifier
are its stable UID (a 2.25 OID, as an ``urn:oid:`` URI), the same UID the DICOM objects of its
photos carry (interop/dicom.py), so a receiving system can group every referral's photos and
findings of one lesion. The referral's own per-lesion BodyStructures
(resources.body_structure_resource) describe the lesion as the referrer saw it that day; this
one is the lesion itself.

Wiring into the referral's Bundle is the bundle module's: `patient_lesions_of(referral)` gives
the patient lesion each referral lesion shows (only those linked), and
`patient_lesion_body_structure(lesion, patient_url)` the resource for each.
"""

from __future__ import annotations

from typing import Any

from dermbridge.interop import codes as c
from dermbridge.interop.fhir.resources import _ref, validated
from dermbridge.lesions.models import LesionEncounter, PatientLesion
from dermbridge.referrals.models import Referral

PATIENT_LESION_SYSTEM = c.PATIENT_LESION_SYSTEM
FIRST_SEEN_EXT = f"{c.DERMBRIDGE_SD}/lesion-first-seen"
REVIEW_BY_EXT = f"{c.DERMBRIDGE_SD}/lesion-review-by"


def patient_lesion_body_structure(lesion: PatientLesion, patient_url: str) -> dict[str, Any]:
    """The lesion as a BodyStructure referring to the patient at `patient_url`."""
    qualifier: list[dict[str, Any]] | None = None
    if lesion.laterality in c.LATERALITY_TO_SNOMED:
        code, display = c.LATERALITY_TO_SNOMED[lesion.laterality]
        qualifier = [{"coding": [{"system": c.SNOMED, "code": code, "display": display}]}]
    elif lesion.laterality:
        qualifier = [{"text": lesion.laterality.capitalize()}]
    extensions: list[dict[str, Any]] = [
        {"url": FIRST_SEEN_EXT, "valueDate": lesion.first_seen.isoformat()}
    ]
    if lesion.monitor_until:
        extensions.append({"url": REVIEW_BY_EXT, "valueDate": lesion.monitor_until.isoformat()})
    return validated(
        {
            "resourceType": "BodyStructure",
            "id": lesion.uid,
            "extension": extensions,
            "identifier": [
                {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{lesion.uid}"},
                {"system": PATIENT_LESION_SYSTEM, "value": lesion.uid},
            ],
            "active": lesion.encounters.exists(),
            "location": {
                "coding": [
                    {
                        "system": c.SNOMED,
                        "code": lesion.body_site_code,
                        "display": lesion.body_site_label,
                    }
                ],
                "text": lesion.body_site_label,
            },
            "locationQualifier": qualifier,
            "description": lesion.description or None,
            "patient": _ref(patient_url),
        }
    )


def patient_lesions_of(referral: Referral) -> dict[int, PatientLesion]:
    """For each of the referral's lesions linked to a patient lesion: {referral lesion id: the
    patient lesion}. A lesion not yet linked by a dermatologist is absent."""
    rows = LesionEncounter.objects.filter(lesion__referral=referral).select_related(
        "patient_lesion"
    )
    return {row.lesion_id: row.patient_lesion for row in rows}
