"""Every change to a referral: one transaction, the acting user passed in, the audit event
written in the same transaction, notifications and tasks queued to run on commit."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidReferral, TransitionNotAllowed
from dermbridge.patients.models import ConsentScope
from dermbridge.referrals import permissions, signals

# Drafting lives in drafts.py, the service's decisions in decisions.py, messages in
# messaging.py, the transition mechanics in transitions.py, the response target in targets.py
# and event notification in events.py; callers import them from here, this module being the
# referral app's one service interface.
from dermbridge.referrals.decisions import (  # noqa: F401 - re-exported
    convert_advice_request,
    downgrade_usc,
    record_histology,
    record_outcome,
    record_patient_told,
)
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
from dermbridge.referrals.events import notify_referral_event
from dermbridge.referrals.hubs import (  # noqa: F401 - re-exported
    add_lesion_at_hub,
    return_to_gp,
    send_to_hub,
)
from dermbridge.referrals.messaging import (  # noqa: F401 - re-exported
    post_message,
    reply_with_information,
    request_more_information,
)
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.referrals.targets import set_clock
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
    set_clock(referral, service, now)
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
