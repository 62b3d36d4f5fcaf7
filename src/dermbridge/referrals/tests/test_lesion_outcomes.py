"""Per-lesion outcomes (issue #14 item 1): the severity ordering, the worst lesion deciding the
referral, the biopsy request identifier, and refusals that name the lesion and the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dermbridge.core.errors import InvalidReferral
from dermbridge.personas import DEFAULT_LESION
from dermbridge.referrals import lesion_outcomes, services, severity
from dermbridge.referrals.models import (
    LesionOutcome,
    Outcome,
    PathwayDecision,
    ReferralKind,
    State,
)
from dermbridge.referrals.severity import Grade, LesionCall
from dermbridge.testing import World, make_referral

NAEVUS, MELANOMA, BCC, SCC = "400182000", "372244006", "254701007", "254651007"
NOSE = {**DEFAULT_LESION, "body_site_code": "45206002", "laterality": "", "pigmented": False}
TEXTS = {
    "management_plan": "See each lesion.",
    "advice_to_referrer": "Back: benign naevus. Nose: suspected BCC, biopsy booked.",
    "patient_explanation": "The mole on your back is harmless; we will test the mark on your nose.",
}


def _two_lesions(world: World, **kw: Any) -> Any:
    return make_referral(world, state=State.IN_REVIEW, lesions=[DEFAULT_LESION, NOSE], **kw)


def test_the_grade_ordering_is_discharge_monitor_routine_usc() -> None:
    assert Grade.DISCHARGE < Grade.MONITOR < Grade.ROUTINE < Grade.USC
    assert severity.grade(LesionCall(1, NAEVUS, "discharge")) == Grade.DISCHARGE
    assert severity.grade(LesionCall(1, NAEVUS, "monitor")) == Grade.MONITOR
    assert severity.grade(LesionCall(1, BCC, "biopsy")) == Grade.ROUTINE  # NG12: BCC routine
    assert severity.grade(LesionCall(1, SCC, "excision")) == Grade.USC
    assert severity.grade(LesionCall(1, MELANOMA, "clinic")) == Grade.USC
    # A melanoma on the differential of a lesion sent for biopsy makes it USC-grade.
    assert severity.grade(LesionCall(1, NAEVUS, "biopsy", (MELANOMA,))) == Grade.USC


def test_the_worst_lesion_decides_the_referral() -> None:
    calls = [
        LesionCall(1, NAEVUS, "discharge"),
        LesionCall(2, BCC, "biopsy"),
        LesionCall(3, NAEVUS, "clinic"),
    ]
    assert severity.worst(calls) == calls[1]
    assert severity.decision_for(severity.worst(calls)) == "biopsy"
    calls.append(LesionCall(4, MELANOMA, "clinic"))
    assert severity.decision_for(severity.worst(calls)) == "urgent_clinic"
    assert severity.decision_for(LesionCall(1, NAEVUS, "monitor")) == "discharge"
    assert severity.decision_for(LesionCall(1, NAEVUS, "excision")) == "surgery"
    assert severity.decision_for(None, advice=True) == "advice"
    # Straight to test is allowed for a USC lesion; a routine clinic is not.
    usc = LesionCall(1, MELANOMA, "excision")
    assert severity.DECISION_RANK[PathwayDecision.SURGERY] >= severity.minimum_rank(usc)
    assert severity.DECISION_RANK[PathwayDecision.ROUTINE_CLINIC] < severity.minimum_rank(usc)


def test_each_lesion_gets_its_own_outcome_and_the_usc_lesion_makes_the_referral_usc(
    world: World,
) -> None:
    referral = _two_lesions(world)
    review = (timezone.localdate() + timedelta(days=90)).isoformat()
    outcome = services.record_outcome(
        referral,
        user=world.derek,
        action="triage",
        lesions=[
            {"lesion": 1, "diagnosis_code": NAEVUS, "management": "monitor", "review_date": review},
            {
                "lesion": 2,
                "diagnosis_code": BCC,
                "differential": [SCC],
                "management": "biopsy",
            },
        ],
        **TEXTS,
    )
    assert outcome.pathway_decision == "urgent_clinic"  # SCC on lesion 2's differential
    assert outcome.diagnosis_code == BCC  # the worst lesion's, kept for older readers
    back, nose = LesionOutcome.objects.order_by("lesion__number")
    assert back.review_date is not None
    assert (back.management, back.review_date.isoformat(), back.biopsy_request_id) == (
        "monitor",
        review,
        None,
    )
    short = referral.reference.removeprefix("DB-")
    assert nose.biopsy_request_id == f"BX-{short}-2" and nose.differential == [SCC]
    # Written again (a corrected answer): the identifier is kept, not reissued.
    again = lesion_outcomes.CleanLesionOutcome(nose.lesion, BCC, "excision")
    lesion_outcomes.write(referral, [again], world.derek)
    nose.refresh_from_db()
    assert nose.biopsy_request_id == f"BX-{short}-2" and nose.management == "excision"


def _refusal(referral: Any, user: Any, **data: Any) -> dict[str, list[str]]:
    with pytest.raises(InvalidReferral) as caught:
        services.record_outcome(referral, user=user, action="triage", **{**TEXTS, **data})
    assert not Outcome.objects.filter(referral=referral).exists()  # nothing partially written
    assert not LesionOutcome.objects.filter(lesion__referral=referral).exists()
    return caught.value.field_errors


def test_refusals_name_the_lesion_and_the_field(world: World) -> None:
    referral = _two_lesions(world)
    errors = _refusal(
        referral,
        world.derek,
        lesions=[
            {"lesion": 1, "diagnosis_code": NAEVUS, "management": "monitor"},
            {"lesion": 2, "diagnosis_code": MELANOMA, "management": "discharge"},
        ],
    )
    assert errors["lesions[1].review_date"][0].startswith("Lesion 1 (Back): enter the review date")
    assert "is not discharged or monitored" in errors["lesions[2].management"][0]
    errors = _refusal(
        referral, world.derek, lesions=[{"lesion": 1, "diagnosis_code": NAEVUS, "management": "x"}]
    )
    assert errors["lesions[2].diagnosis_code"] == [
        "Lesion 2 (Nose): give this lesion's diagnosis and plan."
    ]
    assert "choose discharge, monitor" in errors["lesions[1].management"][0]
    errors = _refusal(
        referral,
        world.derek,
        lesions=[
            {
                "lesion": 1,
                "diagnosis_code": NAEVUS,
                "management": "discharge",
                "differential": [NAEVUS],
            },
            {"lesion": 2, "diagnosis_code": MELANOMA, "management": "clinic"},
            {"lesion": 7, "diagnosis_code": NAEVUS, "management": "discharge"},
        ],
    )
    assert "no lesion 7" in errors["lesions"][0]
    assert "once, apart from the diagnosis" in errors["lesions[1].differential"][0]
    # The referral's decision may not be less urgent than its worst lesion.
    errors = _refusal(
        referral,
        world.derek,
        pathway_decision="routine_clinic",
        lesions=[
            {"lesion": 1, "diagnosis_code": NAEVUS, "management": "discharge"},
            {"lesion": 2, "diagnosis_code": MELANOMA, "management": "clinic"},
        ],
    )
    assert errors["pathway_decision"][0].startswith("Lesion 2 (Nose) needs “Urgent suspected")


def test_advice_and_guidance_keeps_lesions_in_primary_care(world: World) -> None:
    referral = _two_lesions(world, kind=ReferralKind.ADVICE)
    with pytest.raises(InvalidReferral) as caught:
        services.record_outcome(
            referral,
            user=world.derek,
            action="give_advice",
            lesions=[
                {"lesion": 1, "diagnosis_code": NAEVUS, "management": "discharge"},
                {"lesion": 2, "diagnosis_code": BCC, "management": "biopsy"},
            ],
            **TEXTS,
        )
    assert "convert the request" in caught.value.field_errors["lesions[2].management"][0]


def test_one_referral_level_diagnosis_is_given_to_every_lesion(world: World) -> None:
    """Older API clients send one diagnosis: each lesion gets it, with the decision's management."""
    referral = _two_lesions(world)
    services.record_outcome(
        referral,
        user=world.derek,
        action="triage",
        diagnosis_code=BCC,
        pathway_decision="biopsy",
        **TEXTS,
    )
    rows = LesionOutcome.objects.filter(lesion__referral=referral).order_by("lesion__number")
    assert [(r.diagnosis_code, r.management) for r in rows] == [(BCC, "biopsy"), (BCC, "biopsy")]
    assert all(r.biopsy_request_id for r in rows)
