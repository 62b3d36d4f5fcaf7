"""Safety netting (issue #14 item 5): when a histology result shows a cancer in a lesion the
service called benign, discharged or only monitored, or that an AI model version read as low
risk, a ``MissedCancer`` event is raised for the service's review -- once per result -- with an
audit event (``safety.missed_cancer``) and an email to the service's administrators,
dermatologists and mailbox through the notifications outbox. Raised from the referral app's
``histology_recorded`` signal (reporting/receivers.py), inside the transaction that stored the
result: the event and its message are committed with it or not at all."""

from __future__ import annotations

from dermbridge.audit.services import record
from dermbridge.notifications.services import notify_service_text
from dermbridge.referrals import severity
from dermbridge.referrals.models import HistologyResult, LesionOutcome, Management
from dermbridge.reporting.concordance import ai_readings, suspects_malignancy
from dermbridge.reporting.models import MissedCancer

EVENT = "missed_cancer"


def check_result(result: HistologyResult) -> MissedCancer | None:
    """Raise the event for this result if it is a missed cancer; None otherwise (idempotent)."""
    if not severity.is_malignant(result.morphology_code):
        return None
    existing = MissedCancer.objects.filter(histology=result).first()
    if existing is not None:
        return existing
    outcome = LesionOutcome.objects.filter(lesion_id=result.lesion_id).first()
    service_missed = outcome is not None and (
        not suspects_malignancy(outcome.diagnosis_code, outcome.differential)
        or outcome.management in (Management.DISCHARGE, Management.MONITOR)
    )
    ai_missed = sorted(
        r.model_version
        for r in ai_readings([result.lesion_id]).get(result.lesion_id, [])
        if not r.suspects_malignancy
    )
    if not service_missed and not ai_missed:
        return None
    referral = result.lesion.referral
    event = MissedCancer.objects.create(
        histology=result,
        lesion=result.lesion,
        service_id=referral.service_id,
        service_diagnosis_code=outcome.diagnosis_code if outcome else "",
        service_management=outcome.management if outcome else "",
        service_missed=service_missed,
        ai_missed_versions=ai_missed,
    )
    who = []
    if service_missed:
        who.append("the service called it benign, discharged or monitored it")
    if ai_missed:
        who.append(f"the AI ({', '.join(ai_missed)}) read it as low risk")
    record(
        None,
        "safety.missed_cancer",
        event,
        organisation_id=referral.service_id,
        detail={
            "biopsy_request_id": result.biopsy_request_id,
            "histology": result.morphology_code,
            "service_missed": service_missed,
            "ai_missed_versions": ai_missed,
        },
    )
    notify_service_text(
        referral,
        EVENT,
        occurrence=f"histology-{result.pk}",
        subject=f"Patient-safety review: histology shows cancer in {result.biopsy_request_id}",
        body=(
            f"Histology for lesion {result.lesion.number} of referral {referral.reference} "
            f"(biopsy request {result.biopsy_request_id}) shows {result.morphology_term.lower()}, "
            f"but {' and '.join(who)}. Review it on the service dashboard's concordance page "
            "(Missed cancers) and record the review."
        ),
    )
    return event
