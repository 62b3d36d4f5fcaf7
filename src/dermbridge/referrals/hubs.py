"""A referral and the community imaging hub that photographs it (issue #13): the hub hands a
referral back to the GP with a message, the dermatology service sends a sent referral to a hub
for better photos, and a hub photographer adds a lesion the referral did not name (only with a
reason). The referrals app owns the tables these write (Referral, Lesion, Message,
StateChange); the clinics app, above it, calls them. Re-exported by services.py."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from dermbridge.accounts.models import Organisation, OrganisationKind, Role, User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidReferral, NotPermitted, TransitionNotAllowed
from dermbridge.referrals.drafts import MAX_LESIONS, _clean_lesion
from dermbridge.referrals.events import notify_referral_event
from dermbridge.referrals.models import Lesion, Message, MessageKind, Referral, State, StateChange
from dermbridge.referrals.transitions import apply_transition, lock_referral

# The states in which a hub holds a referral: the GP's draft (photography at the hub) or the
# service's request for more information (better photos).
AT_HUB_STATES = (State.DRAFT, State.MORE_INFO_REQUESTED)


def _hub_staff(user: User, hub_id: int | None) -> bool:
    return hub_id is not None and (
        user.has_role(Role.PHOTOGRAPHER, hub_id) or user.has_role(Role.SERVICE_ADMIN, hub_id)
    )


def _check_hub(user: User, referral: Referral, what: str) -> Organisation:
    if not _hub_staff(user, referral.imaging_hub_id):
        raise NotPermitted(f"Only the imaging hub photographing this referral can {what}.")
    if referral.state not in AT_HUB_STATES:
        raise TransitionNotAllowed(
            f"Referral {referral.reference} is {referral.get_state_display().lower()}: the hub "
            f"can no longer {what}."
        )
    hub = referral.imaging_hub
    assert hub is not None  # _hub_staff checked it is set
    return hub


@transaction.atomic
def return_to_gp(
    referral: Referral, *, user: User, reason: str, release_hub: bool = True
) -> Message:
    """The hub hands the referral back to the GP: a message on the referral from the hub, a
    step in its history, and (``release_hub``) the hub no longer holds it (``imaging_hub``
    cleared, so it leaves the hub's booking list and the GP decides what next). The state is
    unchanged: a draft stays the GP's draft; a request for more information still waits for the
    GP's reply. The caller (clinics) tells the GP and the patient in the same transaction. The
    did-not-attend rule keeps the hub (``release_hub=False``): the hub may still book the
    patient by hand if the GP asks."""
    reason = reason.strip()
    if not reason:
        raise InvalidReferral(
            "Say why the referral goes back to the GP.", field_errors={"reason": ["Required."]}
        )
    referral = lock_referral(referral)
    hub = _check_hub(user, referral, "return it to the GP")
    message = Message.objects.create(
        referral=referral,
        author=user,
        organisation=hub,
        kind=MessageKind.MESSAGE,
        body=f"Returned to the GP by {hub.name}: {reason}"[:10000],
    )
    StateChange.objects.create(
        referral=referral,
        action="returned_by_hub",
        from_state=referral.state,
        to_state=referral.state,
        actor=user,
        note=reason[:300],
    )
    if release_hub:
        referral.imaging_hub = None
        referral.save(update_fields=["imaging_hub", "updated_at"])
    record(
        user,
        "referral.returned_by_hub",
        referral,
        organisation_id=hub.pk,
        detail={"hub": hub.pk, "message": message.pk, "hub_released": release_hub},
    )
    return message


@transaction.atomic
def send_to_hub(referral: Referral, *, user: User, hub: Organisation, reason: str) -> Message:
    """The reviewing dermatologist sends a sent referral to an imaging hub for better photos:
    the request for more information (the same transition and rule), with the hub named, so
    the case joins the hub's booking list; the referrer is told as for any request."""
    reason = reason.strip()
    if not reason:
        raise InvalidReferral(
            "Say what the hub should photograph better.", field_errors={"reason": ["Required."]}
        )
    if hub.kind != OrganisationKind.IMAGING_HUB:
        raise InvalidReferral(
            f"{hub.name} is not an imaging hub.", field_errors={"hub": ["Choose an imaging hub."]}
        )
    referral = lock_referral(referral)
    apply_transition(referral, "request_info", user, f"Sent to {hub.name} for photographs")
    referral.imaging_hub = hub
    referral.save(update_fields=["imaging_hub", "updated_at"])
    message = Message.objects.create(
        referral=referral,
        author=user,
        organisation_id=referral.service_id,
        kind=MessageKind.INFO_REQUEST,
        body=f"Sent to {hub.name} for better photographs: {reason}"[:10000],
    )
    record(
        user,
        "referral.sent_to_hub",
        referral,
        organisation_id=referral.service_id,
        detail={"hub": hub.pk},
    )
    notify_referral_event(referral, "info_requested")
    return message


@transaction.atomic
def add_lesion_at_hub(referral: Referral, *, user: User, reason: str, **data: Any) -> Lesion:
    """A hub photographer adds a lesion the referral did not name: only with a reason, which is
    posted on the referral as a message from the hub for the dermatologist to see."""
    reason = reason.strip()
    if not reason:
        raise InvalidReferral(
            "Say why a lesion the referral did not name is photographed.",
            field_errors={"reason": ["Required."]},
        )
    referral = lock_referral(referral)
    hub = _check_hub(user, referral, "add a lesion")
    count = referral.lesions.count()
    if count >= MAX_LESIONS:
        raise InvalidReferral(f"A referral can describe at most {MAX_LESIONS} lesions.")
    lesion = Lesion.objects.create(referral=referral, **_clean_lesion(data, count + 1))
    Message.objects.create(
        referral=referral,
        author=user,
        organisation=hub,
        kind=MessageKind.MESSAGE,
        body=(
            f"Lesion {lesion.number} ({lesion.body_site_label}) was photographed at {hub.name} "
            f"although the referral did not name it. Reason: {reason}"
        )[:10000],
    )
    record(
        user,
        "lesion.create_at_hub",
        lesion,
        organisation_id=hub.pk,
        detail={"referral": referral.reference, "reason": reason[:300]},
    )
    return lesion


__all__ = ["AT_HUB_STATES", "add_lesion_at_hub", "return_to_gp", "send_to_hub"]
