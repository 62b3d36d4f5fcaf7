"""The whole referral as one FHIR Bundle, and the checks every bundle must pass."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B.bundle import Bundle

from dermbridge.interop.fhir.clinical import (
    assessment_observation,
    communication_resource,
    consent_resource,
    lesion_conditions,
    outcome_observations,
    questionnaire_response_resource,
)
from dermbridge.interop.fhir.histology import report_resources
from dermbridge.interop.fhir.resources import (
    binary_resource,
    body_structure_resource,
    media_resource,
    organisation_resource,
    patient_resource,
    practitioner_resource,
    practitioner_role_resource,
    service_request_resource,
    task_resource,
    urn,
    validated,
)

if TYPE_CHECKING:
    from dermbridge.imaging.models import LesionImage
    from dermbridge.patients.models import Consent
    from dermbridge.referrals.models import (
        HistologyResult,
        Lesion,
        LesionOutcome,
        Message,
        Outcome,
        Referral,
    )
    from dermbridge.triage.models import Assessment

# ---------------------------------------------------------------- the bundle


@dataclass
class ReferralRecord:
    """Everything about one referral the mapping needs, loaded by the caller."""

    referral: Referral
    lesions: list[Lesion]
    images: list[tuple[LesionImage, bytes, str]]  # (image, e-RS derivative bytes, media type)
    consents: list[Consent] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    outcome: Outcome | None = None
    # Each lesion's answer and its histology reports (issue #14).
    lesion_outcomes: list[LesionOutcome] = field(default_factory=list)
    histology: list[HistologyResult] = field(default_factory=list)
    # {referral lesion id: the stable UID of the patient's lesion it shows} (lesions app), for
    # the lesions a dermatologist has linked: one identifier across every referral of it.
    patient_lesion_uids: dict[int, str] = field(default_factory=dict)


def referral_bundle(record: ReferralRecord, *, bundle_type: str = "transaction") -> dict[str, Any]:
    """The whole referral as one Bundle whose references all resolve inside it.

    A ``transaction`` bundle (the default) can be POSTed to another DermBridge or a FHIR server.
    """
    referral = record.referral
    patient = referral.patient
    entries: list[tuple[str, dict[str, Any]]] = []
    patient_url = urn("Patient", patient.pk)
    referral_url = urn("ServiceRequest", referral.pk)

    orgs = {
        o.pk: o
        for o in (
            referral.referring_org,
            referral.service,
            patient.registered_practice,
            referral.imaging_hub,
        )
        if o is not None
    }
    people = {referral.referrer_id: referral.referrer}
    for message in record.messages:
        people[message.author_id] = message.author
        orgs.setdefault(message.organisation_id, message.organisation)
    if record.outcome is not None:
        people[record.outcome.recorded_by_id] = record.outcome.recorded_by

    entries.append((patient_url, patient_resource(patient)))
    entries += [(urn("Organization", pk), organisation_resource(o)) for pk, o in orgs.items()]
    entries += [(urn("Practitioner", pk), practitioner_resource(u)) for pk, u in people.items()]
    entries.append(
        (
            urn("PractitionerRole", f"{referral.referrer_id}-{referral.referring_org_id}"),
            practitioner_role_resource(referral.referrer, referral.referring_org),
        )
    )

    supporting: list[str] = []
    for lesion in record.lesions:
        url = urn("BodyStructure", lesion.pk)
        entries.append(
            (
                url,
                body_structure_resource(
                    lesion, patient_url, record.patient_lesion_uids.get(lesion.pk)
                ),
            )
        )
        supporting.append(url)
    lesions_by_pk = {lesion.pk: lesion for lesion in record.lesions}
    for image, data, media_type in record.images:
        lesion = lesions_by_pk[image.lesion_id]
        ers = image.derivatives.get("ers", {})
        entries.append((urn("Binary", image.pk), binary_resource(image, data, media_type)))
        media_url = urn("Media", image.pk)
        entries.append(
            (
                media_url,
                media_resource(
                    image,
                    lesion,
                    referral_url,
                    patient_url,
                    data,
                    media_type,
                    int(ers.get("width") or image.width or 1),
                    int(ers.get("height") or image.height or 1),
                ),
            )
        )
        supporting.append(media_url)
    history = getattr(referral, "history", None)
    if history is not None:
        url = urn("QuestionnaireResponse", referral.pk)
        entries.append((url, questionnaire_response_resource(referral, history)))
        supporting.append(url)
    for consent in record.consents:
        url = urn("Consent", consent.pk)
        entries.append((url, consent_resource(consent)))
        supporting.append(url)
    entries.insert(
        1, (referral_url, service_request_resource(referral, record.lesions, supporting))
    )
    entries.append((urn("Task", referral.pk), task_resource(referral)))
    for assessment in record.assessments:
        entries.append(
            (
                urn("Observation", f"ai-{assessment.pk}"),
                assessment_observation(assessment, referral),
            )
        )
    reports_by_lesion: dict[int, list[str]] = {}
    histology_codes: dict[int, set[str]] = {}
    for result in record.histology:
        urls = (
            urn("Observation", f"histology-{result.pk}-margins"),
            urn("Observation", f"histology-{result.pk}-margin-distance"),
        )
        report, observations = report_resources(
            result, subject=patient_url, based_on=referral_url, observation_urls=urls
        )
        report_url = urn("DiagnosticReport", result.pk)
        entries.append((report_url, validated(report)))
        entries += [(url, validated(o)) for url, o in zip(urls, observations, strict=False)]
        reports_by_lesion.setdefault(result.lesion_id, []).append(report_url)
        histology_codes.setdefault(result.lesion_id, set()).add(result.morphology_code)
    for lesion_outcome in record.lesion_outcomes:
        for condition in lesion_conditions(
            lesion_outcome,
            referral,
            body_structure=urn("BodyStructure", lesion_outcome.lesion_id),
            evidence=reports_by_lesion.get(lesion_outcome.lesion_id),
            histology_codes=histology_codes.get(lesion_outcome.lesion_id, set()),
        ):
            entries.append((urn("Condition", condition["id"]), condition))
    if record.outcome is not None:
        outcome = record.outcome
        for obs in outcome_observations(outcome, referral):
            entries.append((urn("Observation", obs["id"]), obs))
        service_url = urn("Organization", referral.service_id)
        sender = urn("Practitioner", outcome.recorded_by_id)
        entries.append(
            (
                urn("Communication", "advice"),
                communication_resource(
                    "advice",
                    referral,
                    sender=sender,
                    recipient=urn("Organization", referral.referring_org_id),
                    text=outcome.advice_to_referrer,
                    sent=outcome.recorded_at,
                    category="advice",
                ),
            )
        )
        entries.append(
            (
                urn("Communication", "patient"),
                communication_resource(
                    "patient",
                    referral,
                    sender=service_url,
                    recipient=patient_url,
                    text=outcome.patient_explanation,
                    sent=outcome.recorded_at,
                    category="patient-explanation",
                ),
            )
        )
    for message in record.messages:
        to_org = (
            referral.referring_org_id
            if message.organisation_id == referral.service_id
            else referral.service_id
        )
        entries.append(
            (
                urn("Communication", f"m{message.pk}"),
                communication_resource(
                    f"m{message.pk}",
                    referral,
                    sender=urn("Practitioner", message.author_id),
                    recipient=urn("Organization", to_org),
                    text=message.body,
                    sent=message.created_at,
                    category=message.kind,
                ),
            )
        )

    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": bundle_type, "entry": []}
    for url, resource in entries:
        entry: dict[str, Any] = {"fullUrl": url, "resource": resource}
        if bundle_type == "transaction":
            entry["request"] = {"method": "POST", "url": resource["resourceType"]}
        bundle["entry"].append(entry)
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def unresolved_references(bundle: Mapping[str, Any]) -> list[str]:
    """Every reference (and Attachment url) in the bundle that names no entry's fullUrl."""
    full_urls = {e.get("fullUrl") for e in bundle.get("entry", [])}
    missing: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if (key == "reference" and isinstance(value, str) and value not in full_urls) or (
                    key == "url"
                    and isinstance(value, str)
                    and value.startswith("urn:uuid:")
                    and value not in full_urls
                ):
                    missing.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for entry in bundle.get("entry", []):
        walk(entry.get("resource"))
    return missing


def operation_outcome(issues: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """An OperationOutcome from (severity, code, text-with-location) triples."""
    return validated(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": sev, "code": code, "diagnostics": text} for sev, code, text in issues
            ]
            or [{"severity": "information", "code": "informational", "diagnostics": "OK"}],
        }
    )
