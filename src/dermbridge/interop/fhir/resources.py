"""People, places, the referral, its lesions and images as validated FHIR R4 resources."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B import get_fhir_model_class

from dermbridge.interop import codes as c

if TYPE_CHECKING:
    from dermbridge.accounts.models import Organisation, User
    from dermbridge.imaging.models import LesionImage
    from dermbridge.patients.models import Patient
    from dermbridge.referrals.models import Lesion, Referral

FHIR_JSON = "application/fhir+json"
_NAMESPACE = uuid.UUID("6f1d2a6e-5d0c-4c55-9c3f-2f1d8a7b9e10")
AI_CAVEAT = (
    "Decision support only: an AI estimate from the dermoscopic image, not a diagnosis. "
    "A dermatologist must review it; clinician review is required for black or brown skin "
    "(NICE HTE24)."
)


def urn(resource_type: str, key: object) -> str:
    """A stable ``urn:uuid`` for one resource of this export (same input, same id)."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{resource_type}/{key}')}"


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """Validate one resource against its FHIR model and return its JSON form."""
    model = get_fhir_model_class(resource["resourceType"])
    return model.model_validate(resource).model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ref(url: str, display: str = "") -> dict[str, str]:
    return {"reference": url, "display": display} if display else {"reference": url}


def attachment_hash(data: bytes) -> str:
    """FHIR Attachment.hash: the base64 SHA-1 of the data."""
    return base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()


# ---------------------------------------------------------------- people and places


def patient_resource(patient: Patient) -> dict[str, Any]:
    telecom = []
    if patient.email:
        telecom.append({"system": "email", "value": patient.email, "use": "home"})
    if patient.mobile:
        telecom.append({"system": "phone", "value": patient.mobile, "use": "mobile"})
    return validated(
        {
            "resourceType": "Patient",
            "id": str(patient.pk),
            "identifier": [
                {
                    "extension": [
                        {
                            "url": c.NHS_NUMBER_VERIFICATION_EXT,
                            "valueCodeableConcept": {"coding": [c.NHS_NUMBER_NOT_TRACED]},
                        }
                    ],
                    "system": c.NHS_NUMBER_SYSTEM,
                    "value": patient.nhs_number,
                }
            ],
            "name": [
                {"use": "official", "family": patient.family_name, "given": [patient.given_name]}
            ],
            "gender": patient.sex,
            "birthDate": patient.date_of_birth.isoformat(),
            "telecom": telecom or None,
            "generalPractitioner": [_ref(urn("Organization", patient.registered_practice_id))],
        }
    )


def _logical(org: Organisation, display: str = "") -> dict[str, Any]:
    """A logical reference to an organisation by its ODS code: what a client outside a Bundle can
    look up in the national directory (this server does not serve Organization)."""
    return {
        "type": "Organization",
        "identifier": {"system": c.ODS_SYSTEM, "value": org.ods_code},
        "display": display or org.name,
    }


def rest_patient_resource(patient: Patient) -> dict[str, Any]:
    """The Patient as ``GET /fhir/Patient/{id}`` serves it: no bundle-local references."""
    resource = patient_resource(patient)
    resource["generalPractitioner"] = [_logical(patient.registered_practice)]
    return validated(resource)


def organisation_resource(org: Organisation) -> dict[str, Any]:
    return validated(
        {
            "resourceType": "Organization",
            "id": org.ods_code,
            "identifier": [{"system": c.ODS_SYSTEM, "value": org.ods_code}],
            "name": org.name,
            "type": [{"text": org.get_kind_display()}],
            "telecom": [{"system": "email", "value": org.email}] if org.email else None,
        }
    )


def practitioner_resource(user: User) -> dict[str, Any]:
    identifier = None
    if user.professional_registration:
        identifier = [
            {
                "system": f"{c.DERMBRIDGE_ID}/professional-registration",
                "value": user.professional_registration,
            }
        ]
    return validated(
        {
            "resourceType": "Practitioner",
            "id": str(user.pk),
            "identifier": identifier,
            "name": [
                {
                    "family": user.last_name or user.username,
                    "given": [user.first_name] if user.first_name else None,
                    "text": str(user),
                }
            ],
        }
    )


def practitioner_role_resource(user: User, org: Organisation) -> dict[str, Any]:
    return validated(
        {
            "resourceType": "PractitionerRole",
            "id": f"{user.pk}-{org.ods_code}",
            "practitioner": _ref(urn("Practitioner", user.pk), str(user)),
            "organization": _ref(urn("Organization", org.pk), org.name),
        }
    )


# ---------------------------------------------------------------- the referral


def service_request_resource(
    referral: Referral, lesions: Iterable[Lesion], supporting: Iterable[str]
) -> dict[str, Any]:
    status, _ = c.STATE_TO_FHIR[referral.state]
    notes = [{"text": f"Service exclusion: {reason}"} for reason in referral.exclusion_reasons]
    return validated(
        {
            "resourceType": "ServiceRequest",
            "id": referral.reference,
            "identifier": [{"system": c.REFERRAL_ID_SYSTEM, "value": referral.reference}],
            "status": status,
            "intent": "order",
            "category": [
                {"coding": [c.REFERRAL_CATEGORY]},
                {
                    "coding": [
                        {
                            "system": c.KIND_SYSTEM,
                            "code": referral.kind,
                            "display": referral.get_kind_display(),
                        }
                    ]
                },
            ],
            "priority": c.KIND_TO_PRIORITY[referral.kind],
            "code": {"text": f"Teledermatology: {referral.get_kind_display()}"},
            "subject": _ref(urn("Patient", referral.patient_id)),
            "authoredOn": _iso(referral.submitted_at or referral.created_at),
            "requester": _ref(
                urn("PractitionerRole", f"{referral.referrer_id}-{referral.referring_org_id}")
            ),
            "performer": [_ref(urn("Organization", referral.service_id))],
            "reasonCode": [{"text": referral.clinical_question}]
            if referral.clinical_question
            else None,
            "bodySite": [_site_concept(lesion) for lesion in lesions] or None,
            "supportingInfo": [_ref(url) for url in supporting] or None,
            "note": notes or None,
        }
    )


def rest_service_request_resource(referral: Referral) -> dict[str, Any]:
    """The ServiceRequest as the REST reads and search serve it, outside any Bundle.

    Every reference is one a client can follow: the patient as ``Patient/{id}`` on this server,
    the requesting practice and the service by ODS code. Images and the history travel in the
    Bundle (``dermbridge export --format fhir``) or as ``Binary`` reads, so no ``supportingInfo``.
    """
    resource = service_request_resource(referral, referral.lesions.all(), [])
    resource["subject"] = {"reference": f"Patient/{referral.patient_id}"}
    resource["requester"] = _logical(
        referral.referring_org, f"{referral.referrer}, {referral.referring_org.name}"
    )
    resource["performer"] = [_logical(referral.service)]
    return validated(resource)


def _site_concept(lesion: Lesion) -> dict[str, Any]:
    return {
        "coding": [
            {"system": c.SNOMED, "code": lesion.body_site_code, "display": lesion.body_site_label}
        ],
        "text": lesion.body_site_label,
    }


def task_resource(referral: Referral) -> dict[str, Any]:
    _, status = c.STATE_TO_FHIR[referral.state]
    return validated(
        {
            "resourceType": "Task",
            "id": referral.reference,
            "status": status,
            "businessStatus": {
                "coding": [
                    {
                        "system": c.STATE_SYSTEM,
                        "code": referral.state,
                        "display": referral.get_state_display(),
                    }
                ]
            },
            "intent": "order",
            "priority": c.KIND_TO_PRIORITY[referral.kind],
            "focus": _ref(urn("ServiceRequest", referral.pk)),
            "for": _ref(urn("Patient", referral.patient_id)),
            "authoredOn": _iso(referral.created_at),
            "lastModified": _iso(referral.updated_at),
            "requester": _ref(urn("Organization", referral.referring_org_id)),
            "owner": _ref(urn("Organization", referral.service_id)),
            "restriction": {"period": {"end": _iso(referral.due_at)}} if referral.due_at else None,
        }
    )


def body_structure_resource(
    lesion: Lesion, patient_url: str, patient_lesion_uid: str | None = None
) -> dict[str, Any]:
    """The lesion as this referral saw it; with `patient_lesion_uid`, also the stable identifier
    of the patient's lesion it shows (the same in every referral of it and in its DICOM objects'
    Tracking UID), so a receiver can group one lesion's findings over the years."""
    qualifier: list[dict[str, Any]] | None = None
    if lesion.laterality in c.LATERALITY_TO_SNOMED:
        code, display = c.LATERALITY_TO_SNOMED[lesion.laterality]
        qualifier = [{"coding": [{"system": c.SNOMED, "code": code, "display": display}]}]
    elif lesion.laterality:
        qualifier = [{"text": lesion.get_laterality_display()}]
    extensions: list[dict[str, Any]] = [{"url": c.PIGMENTED_EXT, "valueBoolean": lesion.pigmented}]
    if lesion.size_mm is not None:
        extensions.append(
            {
                "url": c.LESION_SIZE_EXT,
                "valueQuantity": {
                    "value": float(lesion.size_mm),
                    "unit": "mm",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm",
                },
            }
        )
    return validated(
        {
            "resourceType": "BodyStructure",
            "id": f"{lesion.referral_id}-{lesion.number}",
            "extension": extensions,
            "identifier": [
                {"system": c.LESION_NUMBER_SYSTEM, "value": str(lesion.number)},
                *(
                    [
                        {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{patient_lesion_uid}"},
                        {"system": c.PATIENT_LESION_SYSTEM, "value": patient_lesion_uid},
                    ]
                    if patient_lesion_uid
                    else []
                ),
            ],
            "location": _site_concept(lesion),
            "locationQualifier": qualifier,
            "description": lesion.description or None,
            "patient": _ref(patient_url),
        }
    )


def binary_resource(image: LesionImage, data: bytes, media_type: str) -> dict[str, Any]:
    return validated(
        {
            "resourceType": "Binary",
            "id": f"{image.pk}-ers",
            "contentType": media_type,
            "data": base64.b64encode(data).decode(),
        }
    )


def media_resource(
    image: LesionImage,
    lesion: Lesion,
    referral_url: str,
    patient_url: str,
    data: bytes,
    media_type: str,
    width: int,
    height: int,
) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [
        {"url": c.BODY_SITE_EXT, "valueReference": _ref(urn("BodyStructure", lesion.pk))}
    ]
    if image.dermoscopy_mode:
        extensions.append({"url": c.DERMOSCOPY_MODE_EXT, "valueCode": image.dermoscopy_mode})
    return validated(
        {
            "resourceType": "Media",
            "id": str(image.pk),
            "extension": extensions,
            "identifier": [{"system": c.IMAGE_SHA256_SYSTEM, "value": image.master_sha256}]
            if image.master_sha256
            else None,
            "basedOn": [_ref(referral_url)],
            "status": "completed",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/media-type",
                        "code": "image",
                        "display": "Image",
                    }
                ]
            },
            "modality": {
                "coding": [
                    {
                        "system": "http://dicom.nema.org/resources/ontology/DCM",
                        "code": c.DICOM_MODALITY[image.image_type],
                    }
                ]
            },
            "view": {
                "coding": [
                    {
                        "system": c.IMAGE_TYPE_SYSTEM,
                        "code": image.image_type,
                        "display": image.get_image_type_display(),
                    }
                ]
            },
            "subject": _ref(patient_url),
            "createdDateTime": _iso(image.captured_at),
            "issued": _iso(image.uploaded_at),
            "bodySite": _site_concept(lesion),
            "deviceName": image.device_model or None,
            "width": width,
            "height": height,
            "content": {
                "contentType": media_type,
                "url": urn("Binary", image.pk),
                "size": len(data),
                "hash": attachment_hash(data),
                "title": f"Lesion {lesion.number} {image.get_image_type_display().lower()}",
            },
        }
    )
