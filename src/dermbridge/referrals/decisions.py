"""The service's decisions on a referral and what follows them: the outcome (advice or
triage), the histology result, converting an advice request into a referral, the referrer
downgrading an urgent suspected cancer referral, and when the patient was told (FDS).
Re-exported by services.py, the referral app's one interface."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidReferral, NotPermitted, TransitionNotAllowed
from dermbridge.referrals import lesion_outcomes, permissions, signals
from dermbridge.referrals.events import notify_referral_event
from dermbridge.referrals.models import (
    Outcome,
    PathwayDecision,
    Referral,
    ReferralKind,
    StateChange,
)
from dermbridge.referrals.targets import set_clock
from dermbridge.referrals.terminology import DIAGNOSES
from dermbridge.referrals.transitions import apply_transition, lock_referral


def _clean_outcome(
    action: str, referral: Referral, data: Mapping[str, Any]
) -> tuple[dict[str, Any], list[lesion_outcomes.CleanLesionOutcome]]:
    """The referral's texts, each lesion's answer, and the decision that follows from them."""
    errors: dict[str, list[str]] = {}
    for name in ("management_plan", "advice_to_referrer", "patient_explanation"):
        if not str(data.get(name, "")).strip():
            errors[name] = ["This is needed."]
    chosen = data.get("pathway_decision") or ""
    if action == "give_advice" and chosen and chosen != PathwayDecision.ADVICE:
        errors["pathway_decision"] = [
            "Advice & Guidance answers with advice; convert the request to refer the patient on."
        ]
    elif action == "triage" and chosen == PathwayDecision.ADVICE:
        errors["pathway_decision"] = [
            "A triaged referral goes to a clinic, biopsy, surgery or discharge."
        ]
    lesions = list(referral.lesions.order_by("number"))
    given = data.get("lesions")
    if given is None:
        # One diagnosis for the referral (older API clients): the same for each lesion.
        code = str(data.get("diagnosis_code", ""))
        if code not in DIAGNOSES:
            errors["diagnosis_code"] = ["Choose a diagnosis from the coded list."]
            given = []
        else:
            given = lesion_outcomes.from_referral_diagnosis(
                lesions, code, chosen or (PathwayDecision.ADVICE if action == "give_advice" else "")
            )
    cleaned, lesion_errors = lesion_outcomes.clean(action, lesions, given)
    errors.update(lesion_errors)
    if not errors:
        decision, decision_errors = lesion_outcomes.decide(action, cleaned, chosen)
        errors.update(decision_errors)
    if errors:
        raise InvalidReferral("The outcome is not complete.", field_errors=errors)
    return {
        # The worst lesion's; a referral-level code only where there is no lesion to carry it.
        "diagnosis_code": lesion_outcomes.referral_diagnosis(cleaned)
        or str(data.get("diagnosis_code", "")),
        "management_plan": str(data["management_plan"]).strip(),
        "advice_to_referrer": str(data["advice_to_referrer"]).strip(),
        "patient_explanation": str(data["patient_explanation"]).strip(),
        "pathway_decision": decision,
    }, cleaned


@transaction.atomic
def record_outcome(referral: Referral, *, user: User, action: str, **data: Any) -> Outcome:
    """The dermatologist's answer: `action` is 'give_advice' (A&G) or 'triage' (RAS/USC).

    ``lesions`` gives each lesion's diagnosis and management (lesion_outcomes.py); the
    referral's pathway decision follows from the worst lesion (severity.py), or is a more
    urgent one the dermatologist chose. Nothing is written unless every part is valid."""
    if action not in ("give_advice", "triage"):
        raise InvalidReferral("An outcome is recorded by giving advice or triaging.")
    referral = lock_referral(referral)
    permissions.check(user, action, referral)
    cleaned, per_lesion = _clean_outcome(action, referral, data)
    outcome, _ = Outcome.objects.update_or_create(
        referral=referral, defaults={**cleaned, "recorded_by": user, "recorded_at": timezone.now()}
    )
    lesion_outcomes.write(referral, per_lesion, user)
    referral.responded_at = referral.responded_at or timezone.now()
    apply_transition(referral, action, user)
    # The photos used for the decision are kept (imaging), the patient is told
    # (notifications), and the AI's agreement is recorded (triage): see referrals/signals.py.
    signals.outcome_recorded.send(sender=Referral, referral=referral)
    notify_referral_event(referral, "outcome")
    return outcome


@transaction.atomic
def record_histology(referral: Referral, *, user: User, histology_code: str) -> Outcome:
    """The biopsy result, when it arrives: kept with the outcome for AI and clinician audit."""
    if histology_code not in DIAGNOSES:
        raise InvalidReferral("Choose the histology diagnosis from the coded list.")
    referral = lock_referral(referral)
    permissions.check(user, "record_histology", referral)
    outcome = Outcome.objects.filter(referral=referral).first()
    if outcome is None:
        raise TransitionNotAllowed("Record the outcome before the histology result.")
    outcome.histology_code = histology_code
    outcome.save(update_fields=["histology_code"])
    record(
        user,
        "outcome.histology",
        outcome,
        organisation_id=referral.service_id,
        detail={"code": histology_code},
    )
    signals.histology_recorded.send(sender=Referral, referral=referral)
    return outcome


@transaction.atomic
def convert_advice_request(
    referral: Referral, *, user: User, to_kind: str, note: str = ""
) -> Referral:
    """A&G answered with 'this patient needs to be seen': the request becomes a RAS or USC referral."""
    if to_kind not in (ReferralKind.TRIAGE, ReferralKind.URGENT_CANCER):
        raise InvalidReferral(
            "Convert to a referral triage (ras) or urgent suspected cancer (usc)."
        )
    referral = lock_referral(referral)
    apply_transition(referral, "convert", user, note)
    referral.converted_from = referral.kind
    referral.kind = to_kind
    referral.claimed_by, referral.claimed_at = None, None
    # The new pathway's clock starts now.
    set_clock(referral, referral.service, timezone.now())
    referral.responded_at = None
    referral.save()
    notify_referral_event(referral, "converted")
    return referral


@transaction.atomic
def downgrade_usc(referral: Referral, *, user: User, to_kind: str, reason: str) -> Referral:
    """Only the referrer may downgrade an urgent suspected cancer referral (CWT guidance)."""
    referral = lock_referral(referral)
    permissions.check(user, "downgrade", referral)
    if to_kind not in (ReferralKind.TRIAGE, ReferralKind.ADVICE):
        raise InvalidReferral("Downgrade to referral triage (ras) or advice and guidance (ag).")
    if not reason.strip():
        raise InvalidReferral("Give the clinical reason for downgrading.")
    old = referral.kind
    referral.kind = to_kind
    if referral.submitted_at:
        set_clock(referral, referral.service, referral.submitted_at)
    referral.save()
    StateChange.objects.create(
        referral=referral,
        action="downgrade",
        from_state=referral.state,
        to_state=referral.state,
        actor=user,
        note=reason[:300],
    )
    record(
        user,
        "referral.downgrade",
        referral,
        organisation_id=referral.referring_org_id,
        detail={"from_kind": old, "to_kind": to_kind},
    )
    return referral


@transaction.atomic
def record_patient_told(
    referral: Referral, *, user: User, told_at: datetime, method: str
) -> Referral:
    """FDS: the date the patient was told cancer is diagnosed or ruled out."""
    referral = lock_referral(referral)
    if referral.is_usc:
        permissions.check(user, "record_patient_told", referral)
    elif not permissions.may_role(user, "record_patient_told", referral):
        raise NotPermitted("Only the dermatology service records when the patient was told.")
    else:
        raise TransitionNotAllowed(
            "The Faster Diagnosis Standard applies to urgent suspected cancer referrals."
        )
    if method not in ("face_to_face", "telephone", "letter", "video"):
        raise InvalidReferral(
            "Say how the patient was told: face_to_face, telephone, letter or video."
        )
    if referral.submitted_at and told_at < referral.submitted_at:
        raise InvalidReferral("The patient cannot have been told before the referral was sent.")
    if told_at > timezone.now():
        raise InvalidReferral("The date the patient was told cannot be in the future.")
    referral.patient_told_at, referral.patient_told_method = told_at, method
    referral.save()
    record(
        user,
        "referral.patient_told",
        referral,
        organisation_id=referral.service_id,
        detail={"method": method},
    )
    return referral
