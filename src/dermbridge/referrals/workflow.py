"""The referral state machine: every legal move, and who may make it.

This table is the single source of truth. Services call `check()` before changing state, the UI
asks `available_actions()` to decide which buttons to show, and the property-based tests drive
random action sequences against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dermbridge.accounts.models import Role
from dermbridge.core.errors import NotPermitted, TransitionNotAllowed
from dermbridge.referrals.models import ReferralKind, State

if TYPE_CHECKING:
    from dermbridge.accounts.models import User
    from dermbridge.referrals.models import Referral

Actor = "User | None"


def is_referrer(user: User | None, r: Referral) -> bool:
    return user is not None and user.has_role(Role.REFERRER, r.referring_org_id)


def is_capturer(user: User | None, r: Referral) -> bool:
    """Referrers at the practice, and photographers at the practice or the assigned hub."""
    if user is None:
        return False
    return is_referrer(user, r) or (
        user.has_role(Role.PHOTOGRAPHER, r.referring_org_id)
        or (r.imaging_hub_id is not None and user.has_role(Role.PHOTOGRAPHER, r.imaging_hub_id))
    )


def is_dermatologist(user: User | None, r: Referral) -> bool:
    return user is not None and user.has_role(Role.DERMATOLOGIST, r.service_id)


def is_reviewer(user: User | None, r: Referral) -> bool:
    """The dermatologist who has claimed the case."""
    return is_dermatologist(user, r) and r.claimed_by_id == getattr(user, "pk", None)


def is_service_staff(user: User | None, r: Referral) -> bool:
    return user is not None and (
        user.has_role(Role.DERMATOLOGIST, r.service_id)
        or user.has_role(Role.SERVICE_ADMIN, r.service_id)
    )


def is_claimer_or_admin(user: User | None, r: Referral) -> bool:
    return is_reviewer(user, r) or (
        user is not None and user.has_role(Role.SERVICE_ADMIN, r.service_id)
    )


def is_referrer_or_service_staff(user: User | None, r: Referral) -> bool:
    return is_referrer(user, r) or is_service_staff(user, r)


def is_system(user: User | None, r: Referral) -> bool:
    return user is None


def may_close(user: User | None, r: Referral) -> bool:
    if r.state == State.ADVICE_GIVEN:
        # Clinical responsibility for advice stays with the referrer, who acknowledges it.
        return is_referrer(user, r) or is_service_staff(user, r)
    if r.state == State.WITHDRAWN:
        return is_referrer(user, r) or is_service_staff(user, r)
    return is_service_staff(user, r)


ALL_KINDS = frozenset(ReferralKind.values)
POST_SUBMISSION_OPEN = frozenset(
    {
        State.SUBMITTED,
        State.AWAITING_REVIEW,
        State.IN_REVIEW,
        State.MORE_INFO_REQUESTED,
        State.CONVERTED,
    }
)


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    sources: frozenset[str]
    target: str
    may: Callable[[User | None, Referral], bool]
    who: str
    kinds: frozenset[str] = ALL_KINDS
    # The role that may ever make this move (when `may` also depends on the case, such as who
    # claimed it): someone without it is refused (403) whatever the state; someone with it is
    # told first when the state is wrong (409).
    role: Callable[[User | None, Referral], bool] | None = None

    def has_role(self, user: User | None, referral: Referral) -> bool:
        return (self.role or self.may)(user, referral)


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in [
        Transition(
            "submit",
            "Send to dermatology",
            frozenset({State.DRAFT}),
            State.SUBMITTED,
            is_referrer,
            "the referrer",
        ),
        Transition(
            "queue_for_review",
            "Queue for review",
            frozenset({State.SUBMITTED}),
            State.AWAITING_REVIEW,
            is_system,
            "the system",
        ),
        Transition(
            "claim",
            "Start review",
            frozenset({State.AWAITING_REVIEW, State.CONVERTED}),
            State.IN_REVIEW,
            is_dermatologist,
            "a dermatologist of the service",
        ),
        Transition(
            "release",
            "Return to worklist",
            frozenset({State.IN_REVIEW}),
            State.AWAITING_REVIEW,
            is_claimer_or_admin,
            "the reviewing dermatologist or a service administrator",
            role=is_service_staff,
        ),
        Transition(
            "give_advice",
            "Send advice",
            frozenset({State.IN_REVIEW}),
            State.ADVICE_GIVEN,
            is_reviewer,
            "the reviewing dermatologist",
            frozenset({ReferralKind.ADVICE}),
            role=is_dermatologist,
        ),
        Transition(
            "request_info",
            "Ask the referrer for more information",
            frozenset({State.IN_REVIEW}),
            State.MORE_INFO_REQUESTED,
            is_reviewer,
            "the reviewing dermatologist",
            role=is_dermatologist,
        ),
        Transition(
            "reply_info",
            "Send the information",
            frozenset({State.MORE_INFO_REQUESTED}),
            State.AWAITING_REVIEW,
            is_referrer,
            "the referrer",
        ),
        Transition(
            "convert",
            "Convert to a referral",
            frozenset({State.IN_REVIEW}),
            State.CONVERTED,
            is_reviewer,
            "the reviewing dermatologist",
            frozenset({ReferralKind.ADVICE}),
            role=is_dermatologist,
        ),
        Transition(
            "triage",
            "Record triage decision",
            frozenset({State.IN_REVIEW}),
            State.TRIAGED,
            is_reviewer,
            "the reviewing dermatologist",
            frozenset({ReferralKind.TRIAGE, ReferralKind.URGENT_CANCER}),
            role=is_dermatologist,
        ),
        Transition(
            "withdraw",
            "Withdraw referral",
            POST_SUBMISSION_OPEN,
            State.WITHDRAWN,
            is_referrer,
            "the referrer",
        ),
        Transition(
            "close",
            "Close",
            frozenset({State.ADVICE_GIVEN, State.TRIAGED, State.WITHDRAWN}),
            State.CLOSED,
            may_close,
            "the referrer or the service",
            role=is_referrer_or_service_staff,
        ),
    ]
}


def check(action: str, user: User | None, referral: Referral) -> Transition:
    """Return the transition if `user` may do `action` now; raise a clear error if not."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionNotAllowed(f"Unknown action {action!r}.")
    # Who first: a role that may never do this is told so (403) whatever the state.
    if not transition.has_role(user, referral):
        raise NotPermitted(f"Only {transition.who} can {transition.label.lower()}.")
    if referral.state not in transition.sources:
        raise TransitionNotAllowed(
            f"Cannot {transition.label.lower()}: referral {referral.reference} is "
            f"{referral.get_state_display().lower()}."
        )
    if referral.kind not in transition.kinds:
        raise TransitionNotAllowed(
            f"Cannot {transition.label.lower()} on a {referral.get_kind_display()} referral."
        )
    if not transition.may(user, referral):
        raise NotPermitted(f"Only {transition.who} can {transition.label.lower()}.")
    return transition


def available_actions(user: User | None, referral: Referral) -> list[Transition]:
    return [
        t
        for t in TRANSITIONS.values()
        if referral.state in t.sources and referral.kind in t.kinds and t.may(user, referral)
    ]
