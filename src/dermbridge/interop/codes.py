"""Code systems and value mappings shared by the FHIR, DICOM and e-RS mappings.

SNOMED CT codes here are used as published in HL7 FHIR R4 examples and the UK Core value sets
(laterality, referral category); DermBridge's own vocabularies (referral kind, workflow state,
image type) use project code systems under ``DERMBRIDGE_CS``. See docs/interop.md.
"""

from __future__ import annotations

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
SNOMED = "http://snomed.info/sct"
# Project-defined vocabularies: the base is not resolvable; the codes are stable.
DERMBRIDGE_CS = "https://dermbridge.invalid/fhir/CodeSystem"
DERMBRIDGE_ID = "https://dermbridge.invalid/fhir/Id"
DERMBRIDGE_SD = "https://dermbridge.invalid/fhir/StructureDefinition"
REFERRAL_ID_SYSTEM = f"{DERMBRIDGE_ID}/referral"
IMAGE_SHA256_SYSTEM = f"{DERMBRIDGE_ID}/image-sha256"
KIND_SYSTEM = f"{DERMBRIDGE_CS}/referral-kind"
STATE_SYSTEM = f"{DERMBRIDGE_CS}/referral-state"
IMAGE_TYPE_SYSTEM = f"{DERMBRIDGE_CS}/image-type"
DERMOSCOPY_MODE_EXT = f"{DERMBRIDGE_SD}/dermoscopy-mode"
LESION_SIZE_EXT = f"{DERMBRIDGE_SD}/lesion-largest-diameter"
PIGMENTED_EXT = f"{DERMBRIDGE_SD}/lesion-pigmented"
LESION_NUMBER_SYSTEM = f"{DERMBRIDGE_ID}/lesion-number"
# A patient's lesion over the years (lesions.PatientLesion.uid, a 2.25 OID; also its DICOM Tracking UID).
PATIENT_LESION_SYSTEM = f"{DERMBRIDGE_ID}/patient-lesion"
HISTORY_QUESTIONNAIRE = "https://dermbridge.invalid/fhir/Questionnaire/clinical-history"
# Core R4 extension "Target body site" (valueReference to a BodyStructure).
BODY_SITE_EXT = "http://hl7.org/fhir/StructureDefinition/bodySite"

# SNOMED CT 3457005 |Patient referral (procedure)|: the category of every referral.
REFERRAL_CATEGORY = {"system": SNOMED, "code": "3457005", "display": "Patient referral"}

# The NHS e-Referral Service FHIR API maps its priorities onto FHIR request-priority this way:
# Routine -> routine, Urgent -> urgent, Two Week Wait (urgent suspected cancer) -> asap.
KIND_TO_PRIORITY = {"ag": "routine", "ras": "routine", "usc": "asap"}

# SNOMED CT laterality qualifiers (UK Core / FHIR bodySite laterality value set).
LATERALITY_TO_SNOMED = {
    "left": ("7771000", "Left"),
    "right": ("24028007", "Right"),
    "bilateral": ("51440002", "Right and left"),
}
SNOMED_TO_LATERALITY = {code: name for name, (code, _) in LATERALITY_TO_SNOMED.items()}

# Workflow state -> (ServiceRequest.status, Task.status).
STATE_TO_FHIR = {
    "draft": ("draft", "draft"),
    "submitted": ("active", "requested"),
    "awaiting_review": ("active", "received"),
    "in_review": ("active", "in-progress"),
    "more_info_requested": ("active", "on-hold"),
    "converted": ("active", "accepted"),
    "advice_given": ("completed", "completed"),
    "triaged": ("completed", "completed"),
    "withdrawn": ("revoked", "cancelled"),
    "closed": ("completed", "completed"),
}

# FHIR consent scope / provision purpose for each DermBridge consent scope.
CONSENT_SCOPE = {
    "direct_care": ("treatment", "Treatment", "TREAT"),
    "research": ("research", "Research", "HRESCH"),
    "teaching": ("patient-privacy", "Privacy Consent", ""),
}

# DICOM: Dermoscopy modality (Supplement 221) and the VL "external camera" modality.
DICOM_MODALITY = {"dermoscopic": "DMS", "overview": "XC", "close_up": "XC"}

# UK Core: how far the NHS number has been checked. DermBridge checks the Modulus 11 digit but
# does not trace the number on the Personal Demographics Service, so "present but not traced".
NHS_NUMBER_VERIFICATION_EXT = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
NHS_NUMBER_VERIFICATION_SYSTEM = (
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)
NHS_NUMBER_NOT_TRACED = {
    "system": NHS_NUMBER_VERIFICATION_SYSTEM,
    "code": "02",
    "display": "Number present but not traced",
}
