"""Applying a workflow transition: lock the row, check the table, record the step and audit it."""

from __future__ import annotations

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.referrals import workflow
from dermbridge.referrals.models import Referral, StateChange


def acting_org_id(user: User | None, referral: Referral) -> int | None:
    """The organisation on whose behalf `user` acts on this referral (for the audit trail)."""
    if user is None:
        return None
    for org_id in (referral.service_id, referral.referring_org_id, referral.imaging_hub_id):
        if org_id is not None and org_id in user.organisation_ids():
            return org_id
    return None


def lock_referral(referral: Referral) -> Referral:
    """Re-read the referral locked for update, so concurrent actions queue behind each other."""
    return Referral.objects.select_for_update().get(pk=referral.pk)


def apply_transition(
    referral: Referral, action: str, user: User | None, note: str = ""
) -> Referral:
    """Check and apply one workflow transition on a row locked for update."""
    transition = workflow.check(action, user, referral)
    from_state = referral.state
    referral.state = transition.target
    referral.save()
    StateChange.objects.create(
        referral=referral,
        action=action,
        from_state=from_state,
        to_state=transition.target,
        actor=user,
        note=note[:300],
    )
    record(
        user,
        f"referral.{action}",
        referral,
        organisation_id=acting_org_id(user, referral),
        detail={"from": from_state, "to": transition.target},
    )
    return referral
