"""Property-based tests of the referral state machine.

Random sequences of actions by random personas are driven through the real services. Whatever
happens, no forbidden state or transition is ever reached: every refused action changes nothing,
and every accepted one is a legal row of the transition table done by someone allowed to do it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dermbridge.core.errors import DomainError
from dermbridge.referrals import services, workflow
from dermbridge.referrals.models import Referral, ReferralKind, State, StateChange
from dermbridge.testing import World, make_referral, make_world

OUTCOME = {
    "diagnosis_code": "400182000",
    "management_plan": "Monitor.",
    "advice_to_referrer": "Benign.",
    "patient_explanation": "A harmless mole.",
}

ACTIONS = [
    "submit",
    "queue_for_review",
    "claim",
    "release",
    "give_advice",
    "triage",
    "request_info",
    "reply_info",
    "convert",
    "withdraw",
    "close",
    "downgrade",
    "patient_told",
    "message",
]
PERSONAS = ["alice", "bob", "pat", "derek", "dora", "sam", "system"]


def perform(action: str, who: Any, referral: Referral, choice: int) -> None:
    r = Referral.objects.get(pk=referral.pk)
    if action == "submit":
        services.submit_referral(r, user=who)
    elif action == "queue_for_review":
        if who is not None:
            workflow.check("queue_for_review", who, r)  # a person can never do the system's step
        services.queue_for_review(r.pk)
    elif action == "claim":
        services.claim(r, user=who)
    elif action == "release":
        services.release(r, user=who)
    elif action == "give_advice":
        services.record_outcome(r, user=who, action="give_advice", **OUTCOME)
    elif action == "triage":
        decision = ["discharge", "routine_clinic", "urgent_clinic", "biopsy", "surgery"][choice % 5]
        services.record_outcome(r, user=who, action="triage", pathway_decision=decision, **OUTCOME)
    elif action == "request_info":
        services.request_more_information(r, user=who, question="When did it start?")
    elif action == "reply_info":
        services.reply_with_information(r, user=who, body="Six months ago.")
    elif action == "convert":
        to = [ReferralKind.TRIAGE, ReferralKind.URGENT_CANCER][choice % 2]
        services.convert_advice_request(r, user=who, to_kind=to)
    elif action == "withdraw":
        services.withdraw(r, user=who, reason="Patient choice")
    elif action == "close":
        services.close(r, user=who)
    elif action == "downgrade":
        services.downgrade_usc(r, user=who, to_kind=ReferralKind.TRIAGE, reason="Not suspicious")
    elif action == "patient_told":
        services.record_patient_told(r, user=who, told_at=timezone.now(), method="letter")
    elif action == "message":
        services.post_message(r, user=who, body="A note.")


def snapshot(referral: Referral) -> tuple[Any, ...]:
    r = Referral.objects.get(pk=referral.pk)
    return (
        r.state,
        r.kind,
        r.claimed_by_id,
        r.patient_told_at,
        r.state_changes.count(),
        r.messages.count(),
    )


def _persona(world: World, name: str) -> Any:
    return None if name == "system" else getattr(world, name)


SEQUENCES = {
    "kind": st.sampled_from(ReferralKind.values),
    "start": st.sampled_from(
        [
            State.DRAFT,
            State.AWAITING_REVIEW,
            State.IN_REVIEW,
            State.MORE_INFO_REQUESTED,
            State.TRIAGED,
            State.CLOSED,
        ]
    ),
    "steps": st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.sampled_from(PERSONAS), st.integers(0, 9)),
        min_size=1,
        max_size=14,
    ),
}


def _examples(n: int) -> Any:
    return settings(
        max_examples=n, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )


@pytest.mark.django_db(transaction=False)
@_examples(15)
@given(**SEQUENCES)
def test_it_never_reaches_a_forbidden_state(
    kind: str, start: str, steps: list[tuple[str, str, int]]
) -> None:
    """make test: 15 random sequences (the slow sibling below runs 200)."""
    never_reaches_a_forbidden_state(kind, start, steps)


@pytest.mark.slow
@pytest.mark.django_db(transaction=False)
@_examples(200)
@given(**SEQUENCES)
def test_it_never_reaches_a_forbidden_state_thoroughly(
    kind: str, start: str, steps: list[tuple[str, str, int]]
) -> None:
    never_reaches_a_forbidden_state(kind, start, steps)


def never_reaches_a_forbidden_state(
    kind: str, start: str, steps: list[tuple[str, str, int]]
) -> None:
    """GIVEN a referral of any kind in any state
    WHEN random personas attempt random actions in random order
    THEN each attempt either is refused with a clear error and changes nothing, or is a legal
    transition by a permitted person; USC kind changes only by the referrer; closed stays closed."""
    with transaction.atomic():
        world = make_world()
        if kind == ReferralKind.ADVICE and start == State.TRIAGED:
            start = State.ADVICE_GIVEN
        referral = make_referral(world, kind=kind, state=start)
        for action, persona, choice in steps:
            who = _persona(world, persona)
            before = Referral.objects.get(pk=referral.pk)
            before_snap = snapshot(referral)
            changes_before = StateChange.objects.filter(referral=referral).count()
            try:
                with transaction.atomic():
                    perform(action, who, before, choice)
            except DomainError as exc:
                assert exc.message, "a refusal must say why"
                assert snapshot(referral) == before_snap, f"refused {action} changed the referral"
                continue
            after = Referral.objects.get(pk=referral.pk)
            assert after.state in State.values
            new_changes = list(
                StateChange.objects.filter(referral=referral).order_by("id")[changes_before:]
            )
            for change in new_changes:
                if change.action in workflow.TRANSITIONS:
                    t = workflow.TRANSITIONS[change.action]
                    assert change.from_state in t.sources, (
                        f"{change.action} from {change.from_state}"
                    )
                    assert change.to_state == t.target
            if before.state == State.CLOSED:
                assert after.state == State.CLOSED, "a closed referral never reopens"
            if (
                before.kind == ReferralKind.URGENT_CANCER
                and after.kind != ReferralKind.URGENT_CANCER
            ):
                assert action == "downgrade" and workflow.is_referrer(who, before), (
                    "only the referrer may downgrade a USC referral"
                )
            if before.state == State.DRAFT and after.state != State.DRAFT:
                assert workflow.is_referrer(who, before)
            if after.state == State.IN_REVIEW:
                assert after.claimed_by_id is not None
            if after.state in (State.ADVICE_GIVEN, State.TRIAGED):
                assert hasattr(after, "outcome")
            if (
                after.state == State.CLOSED
                and after.kind == ReferralKind.URGENT_CANCER
                and before.state == State.TRIAGED
            ):
                assert after.patient_told_at is not None, "FDS: told date before closing"
        transaction.set_rollback(True)


TRANSITION_CASES = [
    (action, state, kind)
    for action, t in workflow.TRANSITIONS.items()
    for state in State.values
    for kind in ReferralKind.values
]


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_allows_exactly_the_table(world: World, persona: str) -> None:
    """GIVEN the transition table
    WHEN each persona asks for every action in every state and kind
    THEN `check` allows it exactly when the state, kind and person match the table."""
    referral = make_referral(world, state=State.IN_REVIEW)
    who = _persona(world, persona)
    for action, state, kind in TRANSITION_CASES:
        referral.state, referral.kind = state, kind
        t = workflow.TRANSITIONS[action]
        expected = state in t.sources and kind in t.kinds and t.may(who, referral)
        try:
            workflow.check(action, who, referral)
            allowed = True
        except DomainError:
            allowed = False
        assert allowed == expected, (action, state, kind, persona)
        if allowed and persona in ("bob", "dora"):
            raise AssertionError(f"{persona} of another organisation may {action}")


def test_it_refuses_a_usc_downgrade_by_anyone_but_the_referrer(world: World) -> None:
    """GIVEN an urgent suspected cancer referral awaiting review
    WHEN the dermatologist, the service admin or another practice's GP tries to downgrade it
    THEN it is refused and stays USC; the referrer can downgrade it, with a reason."""
    referral = make_referral(world, kind=ReferralKind.URGENT_CANCER, state=State.AWAITING_REVIEW)
    for who in (world.derek, world.sam, world.bob, world.pat):
        with pytest.raises(DomainError):
            services.downgrade_usc(referral, user=who, to_kind=ReferralKind.TRIAGE, reason="x")
    assert Referral.objects.get(pk=referral.pk).kind == ReferralKind.URGENT_CANCER
    services.downgrade_usc(
        referral, user=world.alice, to_kind=ReferralKind.TRIAGE, reason="Benign look"
    )
    assert Referral.objects.get(pk=referral.pk).kind == ReferralKind.TRIAGE
