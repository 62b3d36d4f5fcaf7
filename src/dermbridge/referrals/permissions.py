"""Who may do what to a referral: one rule per action, the one place to ask.

Every action on a referral has one `Rule` here: the role that may do it and the states (and
pathways) it may be done in. The same rule decides whether a page shows the control
(`can(user, referral)`, passed to templates as `can`) and whether the request is authorised
(`check(user, action, referral)`, called by the services; pages and the API only turn its
`NotPermitted` into 403). Workflow transitions keep their table in `workflow.TRANSITIONS`; the
rules for them are built from it, so asking here and asking the workflow can never disagree.

Principles (issue #9, "nobody oversteps"):
- The referrer (Role.REFERRER at the referring organisation) owns the clinical content: the
  question, pathway, history, the lesions, sending, deleting the draft, replying to a request
  for more information, downgrading an urgent suspected cancer referral, withdrawing.
- A photographer (Role.PHOTOGRAPHER at the referring practice or at the imaging hub the
  referral names) adds and removes photos of the lesions the referrer named. They may also
  record the patient's consent for direct care: consent is usually taken face to face at the
  photo appointment, it is recorded in the photographer's own name and audited, and it changes
  nothing the referrer wrote. Nothing else.
- The dermatology service's staff do the review steps, record when a USC patient was told,
  histology and the PACS send. Messages pass between the referrer and the service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dermbridge.accounts.models import Role, User
from dermbridge.core.errors import NotPermitted, TransitionNotAllowed
from dermbridge.referrals import workflow
from dermbridge.referrals.models import Referral, ReferralKind, State

ALL_STATES = frozenset(State.values)
DRAFT = frozenset({State.DRAFT})
DRAFT_OR_MORE_INFO = frozenset({State.DRAFT, State.MORE_INFO_REQUESTED})
SENT = ALL_STATES - DRAFT
OPEN_USC = ALL_STATES - {State.CLOSED, State.WITHDRAWN, State.TRIAGED}
TOLD_STATES = ALL_STATES - {State.DRAFT, State.WITHDRAWN, State.CLOSED}


def is_photographer(user: User | None, r: Referral) -> bool:
    """A photographer at the referring practice, or at the imaging hub the referral names."""
    if user is None:
        return False
    return user.has_role(Role.PHOTOGRAPHER, r.referring_org_id) or (
        r.imaging_hub_id is not None and user.has_role(Role.PHOTOGRAPHER, r.imaging_hub_id)
    )


def is_referrer_or_service(user: User | None, r: Referral) -> bool:
    return workflow.is_referrer(user, r) or workflow.is_service_staff(user, r)


@dataclass(frozen=True)
class Rule:
    action: str
    label: str  # what is done, as in "Only the referrer can <label>."
    who: Callable[[User | None, Referral], bool]
    who_text: str
    states: frozenset[str] = ALL_STATES
    kinds: frozenset[str] = workflow.ALL_KINDS
    transition: bool = False
    # For the few rules whose `who` also depends on the case (who claimed it): the role that
    # may ever do it. Without it the user is refused (403) in any state.
    role: Callable[[User | None, Referral], bool] | None = None

    def has_role(self, user: User | None, referral: Referral) -> bool:
        return (self.role or self.who)(user, referral)


def _rules() -> dict[str, Rule]:
    referrer, capturer = workflow.is_referrer, workflow.is_capturer
    staff = workflow.is_service_staff
    rules = [
        Rule("edit_question", "change the clinical question", referrer, "the referrer", DRAFT),
        Rule("edit_pathway", "change the pathway", referrer, "the referrer", DRAFT),
        Rule(
            "edit_history",
            "change the clinical history",
            referrer,
            "the referrer",
            DRAFT_OR_MORE_INFO,
        ),
        Rule("add_lesion", "add a lesion", referrer, "the referrer", DRAFT_OR_MORE_INFO),
        Rule("edit_lesion", "change a lesion", referrer, "the referrer", DRAFT),
        Rule("remove_lesion", "remove a lesion", referrer, "the referrer", DRAFT),
        Rule(
            "add_photo",
            "add photos",
            capturer,
            "the referring practice or its imaging hub",
            DRAFT_OR_MORE_INFO,
        ),
        Rule(
            "remove_photo",
            "remove photos",
            capturer,
            "the referring practice or its imaging hub",
            DRAFT_OR_MORE_INFO,
        ),
        Rule(
            "record_consent",
            "record the patient's consent",
            capturer,
            "the referring practice or its imaging hub",
            DRAFT_OR_MORE_INFO,
        ),
        Rule("delete_draft", "delete this draft", referrer, "the referrer", DRAFT),
        Rule(
            "send_message",
            "send a message about this referral",
            is_referrer_or_service,
            "the referrer and the dermatology service",
            SENT,
        ),
        Rule(
            "downgrade",
            "downgrade an urgent suspected cancer referral",
            referrer,
            "the referrer",
            OPEN_USC,
            frozenset({ReferralKind.URGENT_CANCER}),
        ),
        Rule(
            "record_patient_told",
            "record when the patient was told",
            staff,
            "the dermatology service",
            TOLD_STATES,
            frozenset({ReferralKind.URGENT_CANCER}),
        ),
        Rule(
            "record_histology",
            "record histology results",
            staff,
            "the dermatology service",
            frozenset({State.ADVICE_GIVEN, State.TRIAGED, State.CLOSED}),
        ),
        Rule("send_to_pacs", "send the images to the PACS", staff, "the dermatology service", SENT),
    ]
    for t in workflow.TRANSITIONS.values():
        rules.append(
            Rule(
                t.action,
                t.label.lower(),
                t.may,
                t.who,
                t.sources,
                t.kinds,
                transition=True,
                role=t.role,
            )
        )
    return {rule.action: rule for rule in rules}


RULES: dict[str, Rule] = _rules()
ACTIONS: tuple[str, ...] = tuple(RULES)


def _rule(action: str) -> Rule:
    rule = RULES.get(action)
    if rule is None:
        raise TransitionNotAllowed(f"Unknown action {action!r}.")
    return rule


def may_role(user: User | None, action: str, referral: Referral) -> bool:
    """Whether `user` has the role for `action` on this referral, whatever its state now."""
    return _rule(action).has_role(user, referral)


def may(user: User | None, action: str, referral: Referral) -> bool:
    """Whether `user` may do `action` to `referral` now (role, state and pathway)."""
    rule = _rule(action)
    return (
        referral.state in rule.states and referral.kind in rule.kinds and rule.who(user, referral)
    )


def check_role(user: User | None, action: str, referral: Referral) -> Rule:
    """Return the rule if `user` has the role for `action` on this referral, whatever its state
    now; raise NotPermitted (403) otherwise. For a page that refuses a part of a request the
    user may never do before it looks at what was typed."""
    rule = _rule(action)
    if not rule.has_role(user, referral):
        raise NotPermitted(f"Only {rule.who_text} can {rule.label}.")
    return rule


def check(user: User | None, action: str, referral: Referral) -> Rule:
    """Return the rule if `user` may do `action` now; raise NotPermitted (403) when their role
    may not, TransitionNotAllowed (409) when nobody may in the referral's state."""
    rule = check_role(user, action, referral)
    if rule.transition:
        workflow.check(action, user, referral)
        return rule
    if referral.state not in rule.states and rule.states <= DRAFT_OR_MORE_INFO:
        when = (
            ""
            if State.MORE_INFO_REQUESTED not in rule.states
            else (" (until the dermatologist asks for more information)")
        )
        raise TransitionNotAllowed(
            f"Referral {referral.reference} has been sent and can no longer be edited{when}: "
            f"you cannot {rule.label}."
        )
    if referral.state not in rule.states:
        raise TransitionNotAllowed(
            f"Cannot {rule.label}: referral {referral.reference} is "
            f"{referral.get_state_display().lower()}."
        )
    if referral.kind not in rule.kinds:
        raise TransitionNotAllowed(
            f"Cannot {rule.label} on a {referral.get_kind_display()} referral."
        )
    return rule


def can(user: User | None, referral: Referral) -> dict[str, bool]:
    """Every action and whether `user` may do it now: templates show a control only if true."""
    return {action: may(user, action, referral) for action in RULES}
