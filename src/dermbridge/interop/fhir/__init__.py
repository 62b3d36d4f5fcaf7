"""A referral as FHIR R4 resources: pure mapping functions, no database writes.

Models come from ``fhir.resources.R4B`` (FHIR 4.3.0): fhir.resources 8 ships R5, R4B and STU3
but not 4.0.1, and every resource used here (ServiceRequest, Task, Media, BodyStructure,
QuestionnaireResponse, Observation, Communication, Consent) has the same structure in R4 and
R4B, so what validates here is valid R4 JSON. Every resource is validated against its model.
"""

from dermbridge.interop.fhir.bundle import (
    ReferralRecord,
    operation_outcome,
    referral_bundle,
    unresolved_references,
)
from dermbridge.interop.fhir.resources import (
    AI_CAVEAT,
    FHIR_JSON,
    attachment_hash,
    urn,
    validated,
)

__all__ = [
    "AI_CAVEAT",
    "FHIR_JSON",
    "ReferralRecord",
    "attachment_hash",
    "operation_outcome",
    "referral_bundle",
    "unresolved_references",
    "urn",
    "validated",
]
