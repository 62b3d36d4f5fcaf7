"""Reading a GP system's FHIR transaction Bundle into a referral plan: pure, no database.

The plan names what to create; ``interop.services.import_referral_bundle`` hands it to the
owning apps' services in one transaction. Every problem found is collected with the place in
the bundle it was found, so the sender gets one OperationOutcome naming all of them.

What is read: Patient (NHS number, name, birth date, gender, telecom), ServiceRequest (kind
from the DermBridge category code, else priority: asap = urgent suspected cancer, routine =
referral triage; requester -> PractitionerRole/Organization ODS code; performer -> the service's
ODS code; reasonCode text = the question), QuestionnaireResponse (the clinical history),
BodyStructure (lesions), Media + Binary (images, base64), Consent. Task, Observation,
Communication and Practitioner entries are the sender's workflow record and are not imported.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from dermbridge.interop import codes as c
from dermbridge.interop.fhir.resources import attachment_hash
from dermbridge.vocabulary import HISTORY_QUESTIONS

PRIORITY_TO_KIND = {"asap": "usc", "routine": "ras"}
CONSENT_FROM_FHIR = {code: scope for scope, (code, _, _) in c.CONSENT_SCOPE.items()}


class BundleProblems(Exception):
    """The bundle cannot become a referral; `issues` are (location, message) pairs."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {what}" for where, what in issues))
        self.issues = issues


@dataclass
class ImageToImport:
    lesion_key: str
    image_type: str
    dermoscopy_mode: str
    data: bytes


@dataclass
class ReferralPlan:
    """What the bundle asks DermBridge to create."""

    nhs_number: str = ""
    patient: dict[str, Any] = field(default_factory=dict)
    referring_ods: str = ""
    service_ods: str = ""
    kind: str = ""
    clinical_question: str = ""
    history: dict[str, str] = field(default_factory=dict)
    lesions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    images: list[ImageToImport] = field(default_factory=list)
    consents: list[tuple[str, bool]] = field(default_factory=list)


def _code(concept: Mapping[str, Any] | None, system: str) -> str:
    for coding in (concept or {}).get("coding", []):
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return ""


def _ext(resource: Mapping[str, Any], url: str) -> Mapping[str, Any]:
    return next((e for e in resource.get("extension", []) if e.get("url") == url), {})


class _Reader:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.issues: list[tuple[str, str]] = []
        self.by_url: dict[str, tuple[int, dict[str, Any]]] = {}
        for i, entry in enumerate(data.get("entry", [])):
            resource = entry.get("resource") or {}
            url = entry.get("fullUrl") or ""
            if not url:
                self.problem(f"Bundle.entry[{i}]", "Every entry needs a fullUrl.")
            elif url in self.by_url:
                self.problem(f"Bundle.entry[{i}].fullUrl", f"{url} is used twice.")
            else:
                self.by_url[url] = (i, resource)

    def problem(self, where: str, what: str) -> None:
        self.issues.append((where, what))

    def of_type(self, kind: str) -> list[tuple[str, int, dict[str, Any]]]:
        return [(u, i, r) for u, (i, r) in self.by_url.items() if r.get("resourceType") == kind]

    def resolve(
        self, ref: Mapping[str, Any] | None, where: str, *kinds: str
    ) -> dict[str, Any] | None:
        url = (ref or {}).get("reference", "")
        found = self.by_url.get(url)
        if found is None or found[1].get("resourceType") not in kinds:
            self.problem(
                where,
                f"Must reference a {' or '.join(kinds)} in this bundle (got {url or 'nothing'}).",
            )
            return None
        return found[1]

    def ods(self, org: Mapping[str, Any] | None, where: str) -> str:
        for identifier in (org or {}).get("identifier", []):
            if identifier.get("system") == c.ODS_SYSTEM and identifier.get("value"):
                return str(identifier["value"]).upper()
        if org is not None:
            self.problem(where, f"The Organization needs an ODS code ({c.ODS_SYSTEM}).")
        return ""


def plan_from_bundle(data: Any) -> ReferralPlan:
    """Check a transaction Bundle and read the referral it carries; raise BundleProblems."""
    if not isinstance(data, Mapping) or data.get("resourceType") != "Bundle":
        raise BundleProblems([("Bundle", "POST a FHIR Bundle resource (JSON).")])
    if data.get("type") != "transaction":
        raise BundleProblems([("Bundle.type", "The Bundle must be a transaction.")])
    try:
        Bundle.model_validate(data)
    except ValidationError as exc:
        raise BundleProblems(
            [
                (
                    "Bundle."
                    + ".".join(
                        str(p) if isinstance(p, str) else f"[{p}]" for p in err["loc"]
                    ).replace(".[", "["),
                    err["msg"],
                )
                for err in exc.errors()
            ]
        ) from None
    reader = _Reader(data)
    plan = ReferralPlan()
    requests = reader.of_type("ServiceRequest")
    if len(requests) != 1:
        reader.problem("Bundle", f"Send exactly one ServiceRequest (found {len(requests)}).")
        raise BundleProblems(reader.issues)
    _, i, sr = requests[0]
    where = f"Bundle.entry[{i}].resource"
    patient = reader.resolve(sr.get("subject"), f"{where}.subject", "Patient")
    if patient is not None:
        _read_patient(reader, plan, patient)
    _read_request(reader, plan, sr, where)
    _read_history(reader, plan)
    _read_lesions_and_images(reader, plan)
    for _, j, consent in reader.of_type("Consent"):
        scope = CONSENT_FROM_FHIR.get(
            _code(consent.get("scope"), "http://terminology.hl7.org/CodeSystem/consentscope")
        )
        if scope is None:
            reader.problem(
                f"Bundle.entry[{j}].resource.scope",
                "Consent scope must be treatment, research or patient-privacy.",
            )
            continue
        plan.consents.append(
            (scope, (consent.get("provision") or {}).get("type", "permit") == "permit")
        )
    if reader.issues:
        raise BundleProblems(reader.issues)
    return plan


def _read_patient(reader: _Reader, plan: ReferralPlan, patient: Mapping[str, Any]) -> None:
    nhs = [
        i.get("value", "")
        for i in patient.get("identifier", [])
        if i.get("system") == c.NHS_NUMBER_SYSTEM
    ]
    if not nhs:
        reader.problem(
            "Patient.identifier", f"The patient needs an NHS number ({c.NHS_NUMBER_SYSTEM})."
        )
    else:
        plan.nhs_number = str(nhs[0])
    name = (patient.get("name") or [{}])[0]
    telecom = {t.get("system"): t.get("value", "") for t in patient.get("telecom", [])}
    if not patient.get("birthDate"):
        reader.problem("Patient.birthDate", "The patient's date of birth is needed.")
    plan.patient = {
        "given_name": " ".join(name.get("given", []))[:100],
        "family_name": str(name.get("family", ""))[:100],
        "date_of_birth": patient.get("birthDate", ""),
        "sex": patient.get("gender", "unknown"),
        "email": telecom.get("email", ""),
        "mobile": telecom.get("phone", ""),
        "contact_preference": "email"
        if telecom.get("email")
        else ("sms" if telecom.get("phone") else "letter"),
    }
    if not plan.patient["family_name"]:
        reader.problem("Patient.name", "The patient's family name is needed.")


def _read_request(reader: _Reader, plan: ReferralPlan, sr: Mapping[str, Any], where: str) -> None:
    kinds = [_code(cat, c.KIND_SYSTEM) for cat in sr.get("category", [])]
    plan.kind = next((k for k in kinds if k), "") or PRIORITY_TO_KIND.get(
        sr.get("priority", "routine"), ""
    )
    if not plan.kind:
        reader.problem(
            f"{where}.priority",
            "DermBridge has no urgent non-cancer pathway: send 'asap' for "
            "urgent suspected cancer or 'routine' for referral triage.",
        )
    requester = reader.resolve(
        sr.get("requester"), f"{where}.requester", "PractitionerRole", "Organization"
    )
    if requester is not None and requester["resourceType"] == "PractitionerRole":
        requester = reader.resolve(
            requester.get("organization"), "PractitionerRole.organization", "Organization"
        )
    plan.referring_ods = reader.ods(requester, f"{where}.requester")
    performers = sr.get("performer") or []
    if not performers:
        reader.problem(
            f"{where}.performer", "Name the dermatology service (an Organization with an ODS code)."
        )
    else:
        service = reader.resolve(performers[0], f"{where}.performer[0]", "Organization")
        plan.service_ods = reader.ods(service, f"{where}.performer[0]")
    plan.clinical_question = "\n".join(
        r.get("text", "") for r in sr.get("reasonCode", []) if r.get("text")
    )


def _read_history(reader: _Reader, plan: ReferralPlan) -> None:
    for _, i, qr in reader.of_type("QuestionnaireResponse"):
        if qr.get("questionnaire") != c.HISTORY_QUESTIONNAIRE:
            continue
        for k, item in enumerate(qr.get("item", [])):
            link = item.get("linkId", "")
            if link not in HISTORY_QUESTIONS:
                reader.problem(
                    f"Bundle.entry[{i}].resource.item[{k}]", f"Unknown history question {link!r}."
                )
                continue
            answer = (item.get("answer") or [{}])[0]
            value = answer.get("valueCoding", {}).get("code") or answer.get("valueString", "")
            plan.history[link] = str(value)


def _read_lesions_and_images(reader: _Reader, plan: ReferralPlan) -> None:
    structures = reader.of_type("BodyStructure")
    if not structures:
        reader.problem("Bundle", "Describe at least one lesion as a BodyStructure.")

    def number(item: tuple[str, int, dict[str, Any]]) -> tuple[int, int]:
        value = next(
            (
                x.get("value")
                for x in item[2].get("identifier", [])
                if x.get("system") == c.LESION_NUMBER_SYSTEM
            ),
            None,
        )
        return (
            int(str(value)) if str(value).isascii() and str(value).isdigit() else 10_000,
            item[1],
        )

    for url, _i, body in sorted(structures, key=number):
        qualifier = (body.get("locationQualifier") or [{}])[0]
        laterality = c.SNOMED_TO_LATERALITY.get(_code(qualifier, c.SNOMED), "")
        if not laterality and str(qualifier.get("text", "")).lower() == "midline":
            laterality = "midline"
        size = _ext(body, c.LESION_SIZE_EXT).get("valueQuantity", {}).get("value")
        plan.lesions.append(
            (
                url,
                {
                    "body_site_code": _code(body.get("location"), c.SNOMED),
                    "laterality": laterality,
                    "size_mm": size,
                    "description": body.get("description", ""),
                    "pigmented": bool(_ext(body, c.PIGMENTED_EXT).get("valueBoolean", False)),
                },
            )
        )
    lesion_urls = {url for url, _ in plan.lesions}
    for _, i, media in reader.of_type("Media"):
        where = f"Bundle.entry[{i}].resource"
        site = _ext(media, c.BODY_SITE_EXT).get("valueReference", {}).get("reference", "")
        if site not in lesion_urls:
            reader.problem(
                f"{where}.extension",
                f"Link the image to its lesion with the {c.BODY_SITE_EXT} "
                "extension referencing a BodyStructure in this bundle.",
            )
            continue
        image_type = _code(media.get("view"), c.IMAGE_TYPE_SYSTEM)
        if image_type not in c.DICOM_MODALITY:
            reader.problem(
                f"{where}.view",
                "Give the image type (overview, close_up or dermoscopic) "
                f"in the {c.IMAGE_TYPE_SYSTEM} code system.",
            )
            continue
        content = media.get("content") or {}
        binary = reader.by_url.get(content.get("url", ""), (0, {}))[1]
        if binary.get("resourceType") != "Binary" or not binary.get("data"):
            reader.problem(
                f"{where}.content.url", "Must name a Binary with base64 data in this bundle."
            )
            continue
        try:
            data = base64.b64decode(binary["data"], validate=True)
        except (binascii.Error, ValueError):
            reader.problem(f"{where}.content", "The Binary data is not valid base64.")
            continue
        if content.get("size") is not None and int(content["size"]) != len(data):
            reader.problem(
                f"{where}.content.size", f"Says {content['size']} bytes; the data has {len(data)}."
            )
            continue
        if content.get("hash") and content["hash"] != attachment_hash(data):
            reader.problem(f"{where}.content.hash", "The SHA-1 hash does not match the data.")
            continue
        mode = str(_ext(media, c.DERMOSCOPY_MODE_EXT).get("valueCode", ""))
        plan.images.append(ImageToImport(site, image_type, mode, data))
