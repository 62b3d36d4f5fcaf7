"""Referrals from primary care to a dermatology service, and everything said about them.

A package by responsibility: ``referral`` (Referral, its states and worklist query set),
``history`` (the structured clinical history), ``lesions`` (lesions, per-lesion outcomes and
histology), ``outcome`` (the referral-level answer and explanation templates) and ``messages``
(messages and state changes). The tables are read together in migrations and reviews; their
logic is in the services, not here. Every name is re-exported here, where the rest of the code
has always imported it from (``from dermbridge.referrals.models import Referral``), and every
model must be imported here for Django to register it.
"""

from dermbridge.referrals.models.history import (
    PRESENCE_FIELDS,
    ClinicalHistory,
    Onset,
    Presence,
    SunExposure,
)
from dermbridge.referrals.models.lesions import (
    HistologyResult,
    HistologySource,
    Laterality,
    Lesion,
    LesionOutcome,
    Management,
    Margins,
    biopsy_request_id,
    diagnosis_term,
)
from dermbridge.referrals.models.messages import Message, MessageKind, StateChange
from dermbridge.referrals.models.outcome import ExplanationTemplate, Outcome
from dermbridge.referrals.models.referral import (
    FACE_TO_FACE_DECISIONS,
    OPEN_STATES,
    WORKLIST_STATES,
    PathwayDecision,
    PatientToldMethod,
    Referral,
    ReferralKind,
    ReferralQuerySet,
    State,
    TargetStatus,
    _visibility_ids,
    new_reference,
)

__all__ = [
    "FACE_TO_FACE_DECISIONS",
    "OPEN_STATES",
    "PRESENCE_FIELDS",
    "WORKLIST_STATES",
    "ClinicalHistory",
    "ExplanationTemplate",
    "HistologyResult",
    "HistologySource",
    "Laterality",
    "Lesion",
    "LesionOutcome",
    "Management",
    "Margins",
    "Message",
    "MessageKind",
    "Onset",
    "Outcome",
    "PathwayDecision",
    "PatientToldMethod",
    "Presence",
    "Referral",
    "ReferralKind",
    "ReferralQuerySet",
    "State",
    "StateChange",
    "SunExposure",
    "TargetStatus",
    "_visibility_ids",
    "biopsy_request_id",
    "diagnosis_term",
    "new_reference",
]
