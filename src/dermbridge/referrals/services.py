"""Every change to a referral: one transaction, the acting user passed in, the audit event
written in the same transaction, notifications and tasks queued to run on commit."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from dermbridge.accounts.models import Organisation, User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidReferral, NotPermitted, TransitionNotAllowed
from dermbridge.patients.models import ConsentScope
from dermbridge.referrals import clocks, permissions, signals

# Drafting lives in drafts.py and the transition mechanics in transitions.py; callers import
# them from here, this module being the referral app's one service interface.
from dermbridge.referrals.drafts import (  # noqa: F401 - re-exported
    HISTORY_FIELDS,
    MAX_LESIONS,
    add_lesion,
    create_referral,
    delete_draft,
    record_direct_care_consent,
    remove_lesion,
    save_draft,
    start_referral,
    update_draft,
    update_lesion,
)
from dermbridge.referrals.models import (
    Message,
    MessageKind,
    Outcome,
    PathwayDecision,
    Referral,
    ReferralKind,
    State,
    StateChange,
)
from dermbridge.referrals.terminology import DIAGNOSES
from dermbridge.referrals.transitions import (
    acting_org_id,
    apply_transition,
    lock_referral,
)
from dermbridge.vocabulary import HISTORY_QUESTIONS

# ---------------------------------------------------------------- submission

log = logging.getLogger(__name__)


def exclusions_for(referral: Referral) -> list[str]:
    """Service exclusions that apply (NCL example set): flagged to the reviewer, never silent."""
    reasons = []
    today = timezone.localdate()
    if referral.patient.age_on(today) < 16:
        reasons.append("Patient is under 16")
    history = getattr(referral, "history", None)
    if history is not None and history.immunosuppressed == "yes":
        reasons.append("Patient is immunosuppressed")
    if history is not None and history.personal_history_skin_cancer == "yes":
        reasons.append("Previous skin cancer: may need a full skin check")
    if referral.lesions.count() > 3:
        reasons.append("More than 3 lesions")
    return reasons


# The history questions whose "Not known" is not clinically acceptable, by pathway. For an
# urgent suspected cancer referral the change in size, shape and colour (the major features of
# the weighted 7-point checklist, NICE NG12 1.7) is what makes the referral urgent, so each must
# be answered Yes or No. Every other question, and every question of the other pathways, accepts
# "Not known" (the dermatologist can ask for more information).
USC_REQUIRED_HISTORY = ("changed_size", "changed_shape", "changed_colour")


def history_problems(referral: Referral) -> list[str]:
    """The history answers this pathway cannot do without, each named as the page asks it."""
    if referral.kind != ReferralKind.URGENT_CANCER:
        return []
    from dermbridge.referrals.models import ClinicalHistory, Presence

    history = getattr(referral, "history", None) or ClinicalHistory(referral=referral)
    return [
        f"Answer '{HISTORY_QUESTIONS[name]}' with Yes or No: 'Not known' is not accepted for an urgent "
        "suspected cancer referral (change in size, shape or colour is what makes it urgent)."
        for name in USC_REQUIRED_HISTORY
        if getattr(history, name) == Presence.UNKNOWN
    ]


def notify_referral_event(
    referral: Referral, event: str, *, exclude_user: User | None = None
) -> None:
    """Tell whoever must be told of this event (the notifications app receives it, inside this
    transaction: see referrals/signals.py)."""
    signals.referral_event.send(
        sender=Referral, referral=referral, event=event, exclude_user=exclude_user
    )


def submission_problems(referral: Referral) -> list[str]:
    """Everything that stops this draft being sent, in words the referrer can act on."""
    problems = []
    if not referral.clinical_question.strip():
        problems.append("Add the question you want the dermatologist to answer.")
    problems.extend(history_problems(referral))
    if not referral.patient.consent_for(ConsentScope.DIRECT_CARE):
        problems.append("Record the patient's consent to share images for their care.")
    lesions = list(referral.lesions.all())
    if not lesions:
        problems.append("Describe at least one lesion.")
    problems.extend(signals.problems_with_images(referral, lesions))
    return problems


@transaction.atomic
def submit_referral(referral: Referral, *, user: User) -> Referral:
    """Send a complete draft to the dermatology service and start its response clock."""
    referral = lock_referral(referral)
    permissions.check(user, "submit", referral)
    problems = submission_problems(referral)
    if problems:
        raise InvalidReferral(
            "This referral cannot be sent yet: " + " ".join(problems),
            field_errors={"referral": problems},
        )
    now = timezone.now()
    service = referral.service
    referral.submitted_at = now
    referral.exclusion_reasons = exclusions_for(referral)
    _set_clock(referral, service, now)
    apply_transition(referral, "submit", user)
    notify_referral_event(referral, "submitted")
    from dermbridge.core.queue import enqueue_atomic
    from dermbridge.referrals.tasks import prepare_for_review

    # Committed with the submission (database task backend): a sent referral always reaches
    # the worklist; requeue_stuck_submissions covers backends that cannot join the transaction.
    enqueue_atomic(prepare_for_review, referral.pk)
    return referral


# A submitted referral still not on the worklist this long after sending has lost its task.
STUCK_SUBMISSION_AFTER = timedelta(minutes=5)


def requeue_stuck_submissions(*, older_than: timedelta = STUCK_SUBMISSION_AFTER) -> int:
    """Queue prepare_for_review again for referrals left 'submitted' (periodic; idempotent:
    queue_for_review does nothing to a referral that has moved on). Returns how many."""
    from dermbridge.referrals.tasks import prepare_for_review

    cutoff = timezone.now() - older_than
    stuck = list(
        Referral.objects.filter(state=State.SUBMITTED, submitted_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    for pk in stuck:
        prepare_for_review.enqueue(pk)
    if stuck:
        log.warning("%s submitted referrals had no review task: queued again", len(stuck))
    return len(stuck)


def _set_clock(referral: Referral, service: Organisation, start: datetime) -> None:
    if referral.kind == ReferralKind.URGENT_CANCER:
        referral.due_at = clocks.fds_due(start)
        # Warn with a quarter of the 28 days left (day 21).
        referral.warn_at = referral.due_at - (referral.due_at - start) / 4
    else:
        days = (
            service.ag_target_working_days
            if referral.kind == ReferralKind.ADVICE
            else service.ras_target_working_days
        )
        referral.due_at = clocks.add_working_days(start, days)
        referral.warn_at = clocks.add_working_days(
            referral.due_at, -service.near_breach_working_days
        )
        referral.warn_at = max(referral.warn_at, start)
    # A new target owes the service a new near-breach warning.
    referral.breach_warned_at = None


@transaction.atomic
def queue_for_review(referral_id: int) -> bool:
    """System step after submission: the case joins the worklist. Safe to run twice."""
    referral = Referral.objects.select_for_update().get(pk=referral_id)
    if referral.state != State.SUBMITTED:
        return False
    apply_transition(referral, "queue_for_review", None)
    return True


# ---------------------------------------------------------------- review


@transaction.atomic
def claim(referral: Referral, *, user: User) -> Referral:
    referral = lock_referral(referral)
    permissions.check(user, "claim", referral)
    referral.claimed_by, referral.claimed_at = user, timezone.now()
    return apply_transition(referral, "claim", user)


@transaction.atomic
def release(referral: Referral, *, user: User) -> Referral:
    referral = lock_referral(referral)
    # Move first: the check needs to know who holds the claim.
    apply_transition(referral, "release", user)
    referral.claimed_by, referral.claimed_at = None, None
    referral.save()
    return referral


def _clean_outcome(action: str, referral: Referral, data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    code = str(data.get("diagnosis_code", ""))
    if code not in DIAGNOSES:
        errors["diagnosis_code"] = ["Choose a diagnosis from the coded list."]
    for name in ("management_plan", "advice_to_referrer", "patient_explanation"):
        if not str(data.get(name, "")).strip():
            errors[name] = ["This is needed."]
    decision = data.get("pathway_decision") or (
        PathwayDecision.ADVICE if action == "give_advice" else ""
    )
    if decision not in PathwayDecision.values:
        errors["pathway_decision"] = ["Choose where the patient goes next."]
    elif action == "give_advice" and decision != PathwayDecision.ADVICE:
        errors["pathway_decision"] = [
            "Advice & Guidance answers with advice; convert the request to refer the patient on."
        ]
    elif action == "triage" and decision == PathwayDecision.ADVICE:
        errors["pathway_decision"] = [
            "A triaged referral goes to a clinic, biopsy, surgery or discharge."
        ]
    if errors:
        raise InvalidReferral("The outcome is not complete.", field_errors=errors)
    return {
        "diagnosis_code": code,
        "management_plan": str(data["management_plan"]).strip(),
        "advice_to_referrer": str(data["advice_to_referrer"]).strip(),
        "patient_explanation": str(data["patient_explanation"]).strip(),
        "pathway_decision": decision,
    }


@transaction.atomic
def record_outcome(referral: Referral, *, user: User, action: str, **data: Any) -> Outcome:
    """The dermatologist's answer: `action` is 'give_advice' (A&G) or 'triage' (RAS/USC)."""
    if action not in ("give_advice", "triage"):
        raise InvalidReferral("An outcome is recorded by giving advice or triaging.")
    referral = lock_referral(referral)
    permissions.check(user, action, referral)
    cleaned = _clean_outcome(action, referral, data)
    outcome, _ = Outcome.objects.update_or_create(
        referral=referral, defaults={**cleaned, "recorded_by": user, "recorded_at": timezone.now()}
    )
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
def request_more_information(referral: Referral, *, user: User, question: str) -> Message:
    if not question.strip():
        raise InvalidReferral("Say what information you need.")
    referral = lock_referral(referral)
    apply_transition(referral, "request_info", user)
    message = Message.objects.create(
        referral=referral,
        author=user,
        organisation_id=referral.service_id,
        kind=MessageKind.INFO_REQUEST,
        body=question.strip(),
    )
    notify_referral_event(referral, "info_requested")
    return message


@transaction.atomic
def reply_with_information(referral: Referral, *, user: User, body: str) -> Message:
    if not body.strip():
        raise InvalidReferral("Write a reply to the dermatologist's question.")
    referral = lock_referral(referral)
    permissions.check(user, "reply_info", referral)
    problems = signals.problems_with_images(referral, list(referral.lesions.all()))
    if problems:
        raise InvalidReferral("The reply cannot be sent yet: " + " ".join(problems))
    referral.claimed_by, referral.claimed_at = None, None
    apply_transition(referral, "reply_info", user)
    org_id = acting_org_id(user, referral) or referral.referring_org_id
    return Message.objects.create(
        referral=referral,
        author=user,
        organisation_id=org_id,
        kind=MessageKind.INFO_REPLY,
        body=body.strip(),
    )


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
    _set_clock(referral, referral.service, timezone.now())
    referral.responded_at = None
    referral.save()
    notify_referral_event(referral, "converted")
    return referral


@transaction.atomic
def withdraw(referral: Referral, *, user: User, reason: str) -> Referral:
    if not reason.strip():
        raise InvalidReferral("Give the reason for withdrawing the referral.")
    referral = lock_referral(referral)
    referral.claimed_by, referral.claimed_at = None, None
    apply_transition(referral, "withdraw", user, reason)
    notify_referral_event(referral, "withdrawn")
    return referral


@transaction.atomic
def close(referral: Referral, *, user: User) -> Referral:
    referral = lock_referral(referral)
    permissions.check(user, "close", referral)
    if referral.is_usc and referral.state == State.TRIAGED and referral.patient_told_at is None:
        raise TransitionNotAllowed(
            "Record when the patient was told cancer was diagnosed or ruled out before closing "
            "(Faster Diagnosis Standard)."
        )
    referral.closed_at = timezone.now()
    return apply_transition(referral, "close", user)


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
        _set_clock(referral, referral.service, referral.submitted_at)
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


@transaction.atomic
def post_message(referral: Referral, *, user: User, body: str) -> Message:
    if not body.strip():
        raise InvalidReferral("The message is empty.")
    if len(body) > 10000:
        raise InvalidReferral("Messages are limited to 10,000 characters.")
    referral = lock_referral(referral)
    permissions.check(user, "send_message", referral)
    org_id = acting_org_id(user, referral)
    if org_id is None:  # cannot happen: the rule names the referrer and the service
        raise NotPermitted("Only the referrer and the dermatology service can message here.")
    message = Message.objects.create(
        referral=referral, author=user, organisation_id=org_id, body=body.strip()
    )
    record(user, "message.create", message, organisation_id=org_id)
    notify_referral_event(referral, "message", exclude_user=user)
    return message


def set_ai_state(referral_id: int, *, risk: float | None, sort: float, band: str) -> None:
    """Record the AI's reading of a referral as a whole (its riskiest lesion): the worklist
    orders by `sort`. The triage app computes it (triage.services.update_referral_risk) and asks
    here, as only the referral app writes its table. No audit event: the assessments that give
    it are audited one by one."""
    Referral.objects.filter(pk=referral_id).update(ai_risk=risk, ai_sort=sort, ai_band=band)


def view_referral(referral: Referral, *, user: User, what: str = "referral.view") -> None:
    """Audit a read of a referral's patient data (call from every view that shows one)."""
    record(user, what, referral, organisation_id=acting_org_id(user, referral))


@transaction.atomic
def warn_near_breach(referral_id: int) -> bool:
    """System step: warn the service once that a case is close to (or past) its target."""
    referral = Referral.objects.select_for_update().get(pk=referral_id)
    if referral.breach_warned_at is not None or referral.clock_stopped_at is not None:
        return False
    referral.breach_warned_at = timezone.now()
    referral.save(update_fields=["breach_warned_at", "updated_at"])
    record(None, "referral.near_breach_warning", referral, organisation_id=referral.service_id)
    notify_referral_event(referral, "near_breach")
    return True
