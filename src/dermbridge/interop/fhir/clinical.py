"""Clinical content of a referral as FHIR R4: history, AI pre-read, outcome, messages, consent."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from dermbridge.interop import codes as c
from dermbridge.interop.fhir.resources import AI_CAVEAT, _iso, _ref, urn, validated
from dermbridge.referrals.models import PRESENCE_FIELDS
from dermbridge.triage.display import shown_interval
from dermbridge.triage.labels import class_name
from dermbridge.vocabulary import HISTORY_QUESTIONS

if TYPE_CHECKING:
    from dermbridge.patients.models import Consent
    from dermbridge.referrals.models import LesionOutcome, Outcome, Referral
    from dermbridge.triage.models import Assessment

CODED_HISTORY = {"onset", "sun_exposure", *PRESENCE_FIELDS}


def questionnaire_response_resource(referral: Referral, history: Any) -> dict[str, Any]:
    """The minimum dataset history; coded answers keep DermBridge's codes, free text stays text."""
    items = []
    # item.text: the question as the referrer was asked it (dermbridge.vocabulary).
    for name, text in HISTORY_QUESTIONS.items():
        value = getattr(history, name, "")
        if value in ("", None):
            continue
        answer: dict[str, Any]
        if name in CODED_HISTORY:
            display = getattr(history, f"get_{name}_display")()
            answer = {
                "valueCoding": {
                    "system": f"{c.DERMBRIDGE_CS}/history-{name}",
                    "code": value,
                    "display": display,
                }
            }
        else:
            answer = {"valueString": str(value)}
        items.append({"linkId": name, "text": text, "answer": [answer]})
    return validated(
        {
            "resourceType": "QuestionnaireResponse",
            "id": referral.reference,
            "questionnaire": c.HISTORY_QUESTIONNAIRE,
            "status": "completed",
            "subject": _ref(urn("Patient", referral.patient_id)),
            "basedOn": [_ref(urn("ServiceRequest", referral.pk))],
            "authored": _iso(referral.created_at),
            "item": items or None,
        }
    )


def assessment_observation(assessment: Assessment, referral: Referral) -> dict[str, Any]:
    """The AI pre-read as a preliminary Observation: suggestions, never a diagnosis."""
    image = assessment.image
    components: list[dict[str, Any]] = [
        {
            "code": {"text": f"Probability: {class_name(label)}"},
            "valueQuantity": {
                "value": round(float(p), 4),
                "unit": "probability",
                "system": "http://unitsofmeasure.org",
                "code": "1",
            },
        }
        for label, p in sorted(assessment.probabilities.items())
    ]
    # The range as clinicians see it: it always holds the estimate (triage.display).
    interval = shown_interval(assessment) or ()
    if len(interval) == 2:
        components.append(
            {
                "code": {"text": "Malignant probability 95% interval"},
                "valueRange": {
                    "low": {"value": round(float(interval[0]), 4)},
                    "high": {"value": round(float(interval[1]), 4)},
                },
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"ai-{assessment.pk}",
        "status": "preliminary",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "imaging",
                        "display": "Imaging",
                    }
                ]
            }
        ],
        "code": {"text": "AI malignancy risk from a dermoscopic image"},
        "subject": _ref(urn("Patient", referral.patient_id)),
        "focus": [_ref(urn("BodyStructure", image.lesion_id))],
        "basedOn": [_ref(urn("ServiceRequest", referral.pk))],
        "issued": _iso(assessment.created_at),
        "method": {"text": f"DermBridge triage model {assessment.model_version}"},
        "derivedFrom": [_ref(urn("Media", image.pk))],
        "note": [{"text": AI_CAVEAT}],
        "component": components or None,
    }
    if assessment.abstained:
        resource["dataAbsentReason"] = {
            "text": assessment.abstention_reason or "The model abstained."
        }
    else:
        resource["valueCodeableConcept"] = (
            {
                "coding": [
                    {
                        "system": f"{c.DERMBRIDGE_CS}/ai-risk-band",
                        "code": assessment.band,
                        "display": assessment.get_band_display(),
                    }
                ]
            }
            if assessment.band
            else {"text": "No band"}
        )
        if assessment.malignant_probability is not None:
            resource["interpretation"] = [
                {"text": f"Malignant probability {assessment.malignant_probability:.2f}"}
            ]
    return validated(resource)


def outcome_observations(outcome: Outcome, referral: Referral) -> list[dict[str, Any]]:
    """The dermatologist's diagnosis (and later histology) as final Observations."""
    from dermbridge.referrals.terminology import DIAGNOSES, working_diagnosis

    def observation(key: str, text: str, code: str, wording: str) -> dict[str, Any]:
        concept = DIAGNOSES.get(code)
        return validated(
            {
                "resourceType": "Observation",
                "id": f"{referral.reference}-{key}",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "exam",
                                "display": "Exam",
                            }
                        ]
                    }
                ],
                "code": {"text": text},
                "subject": _ref(urn("Patient", referral.patient_id)),
                "basedOn": [_ref(urn("ServiceRequest", referral.pk))],
                "effectiveDateTime": _iso(outcome.recorded_at),
                "performer": [_ref(urn("Practitioner", outcome.recorded_by_id))],
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": c.SNOMED,
                            "code": code,
                            "display": concept.label if concept else code,
                        }
                    ],
                    # As the GP is told it: "Suspected …" / "Likely …" until histology.
                    "text": wording,
                },
                "note": [
                    {
                        "text": f"Pathway: {outcome.get_pathway_decision_display()}. "
                        f"Plan: {outcome.management_plan}"
                    }
                ],
            }
        )

    found = [
        observation(
            "diagnosis",
            "Dermatologist's diagnosis",
            outcome.diagnosis_code,
            working_diagnosis(outcome.diagnosis_code, outcome.histology_code),
        )
    ]
    if outcome.histology_code:
        found.append(
            observation(
                "histology",
                "Histology diagnosis",
                outcome.histology_code,
                working_diagnosis(outcome.histology_code, outcome.histology_code),
            )
        )
    return found


def communication_resource(
    key: str,
    referral: Referral,
    *,
    sender: str,
    recipient: str,
    text: str,
    sent: datetime | None,
    category: str,
) -> dict[str, Any]:
    return validated(
        {
            "resourceType": "Communication",
            "id": f"{referral.reference}-{key}",
            "basedOn": [_ref(urn("ServiceRequest", referral.pk))],
            "status": "completed",
            "category": [
                {"coding": [{"system": f"{c.DERMBRIDGE_CS}/communication", "code": category}]}
            ],
            "subject": _ref(urn("Patient", referral.patient_id)),
            "sent": _iso(sent),
            "sender": _ref(sender),
            "recipient": [_ref(recipient)],
            "payload": [{"contentString": text}],
        }
    )


def consent_resource(consent: Consent) -> dict[str, Any]:
    scope_code, scope_display, purpose = c.CONSENT_SCOPE[consent.scope]
    provision: dict[str, Any] = {"type": "permit" if consent.granted else "deny"}
    if purpose:
        provision["purpose"] = [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose}
        ]
    else:
        provision["code"] = [
            {"coding": [{"system": f"{c.DERMBRIDGE_CS}/consent-scope", "code": consent.scope}]}
        ]
    return validated(
        {
            "resourceType": "Consent",
            "id": str(consent.pk),
            "status": "active",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": scope_code,
                        "display": scope_display,
                    }
                ],
                "text": consent.get_scope_display(),
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://loinc.org",
                            "code": "59284-0",
                            "display": "Patient Consent",
                        }
                    ],
                    "text": consent.scope,
                }
            ],
            "patient": _ref(urn("Patient", consent.patient_id)),
            "dateTime": _iso(consent.recorded_at),
            "policyRule": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "OPTIN" if consent.granted else "OPTOUT",
                    }
                ]
            },
            "provision": provision,
        }
    )


# http://terminology.hl7.org/CodeSystem/condition-ver-status and condition-clinical.
VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def lesion_conditions(
    outcome: LesionOutcome,
    referral: Referral,
    *,
    body_structure: str,
    evidence: list[str] | None = None,
    histology_codes: set[str] | frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """One lesion's teledermatology answer as Conditions (issue #14 item 6): the diagnosis
    (verificationStatus provisional, or confirmed when a histology report gives the same code) and each ranked
    differential (verificationStatus differential, rank in the note), located by the lesion's
    BodyStructure (core bodySite extension) and its SNOMED CT site; histology DiagnosticReports
    as evidence. Management and review date are in the note."""
    from dermbridge.referrals.terminology import BODY_SITES, DIAGNOSES

    lesion = outcome.lesion
    site = BODY_SITES.get(lesion.body_site_code)

    def condition(key: str, code: str, status: str, note: str) -> dict[str, Any]:
        concept = DIAGNOSES.get(code)
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": f"{referral.reference}-lesion-{lesion.number}-{key}",
            "extension": [{"url": c.BODY_SITE_EXT, "valueReference": _ref(body_structure)}],
            "clinicalStatus": {"coding": [{"system": CLINICAL_STATUS, "code": "active"}]},
            "verificationStatus": {"coding": [{"system": VER_STATUS, "code": status}]},
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [
                    {
                        "system": c.SNOMED,
                        "code": code,
                        "display": concept.label if concept else code,
                    }
                ]
            },
            "bodySite": [
                {
                    "coding": [
                        {
                            "system": c.SNOMED,
                            "code": lesion.body_site_code,
                            "display": site.label if site else lesion.body_site_code,
                        }
                    ]
                }
            ],
            "subject": _ref(urn("Patient", referral.patient_id)),
            "recordedDate": _iso(outcome.recorded_at),
            "recorder": _ref(urn("Practitioner", outcome.recorded_by_id)),
            "note": [{"text": note}],
        }
        if evidence:
            resource["evidence"] = [{"detail": [_ref(url) for url in evidence]}]
        return validated(resource)

    review = f", review by {outcome.review_date.isoformat()}" if outcome.review_date else ""
    request = f"; biopsy request {outcome.biopsy_request_id}" if outcome.biopsy_request_id else ""
    found = [
        condition(
            "dx",
            outcome.diagnosis_code,
            "confirmed" if outcome.diagnosis_code in histology_codes else "provisional",
            f"Lesion {lesion.number}. Management: {outcome.get_management_display()}{review}{request}.",
        )
    ]
    for rank, code in enumerate(outcome.differential, start=1):
        found.append(
            condition(
                f"ddx{rank}",
                code,
                "differential",
                f"Differential {rank} of lesion {lesion.number}.",
            )
        )
    return found
