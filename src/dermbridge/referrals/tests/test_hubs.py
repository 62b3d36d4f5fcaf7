"""The referrals services a community imaging hub uses (referrals/hubs.py): handing a referral
back to the GP, the service sending a sent referral to a hub, and a lesion added at the hub.
Who may, in which states, and that a refusal writes nothing."""

from __future__ import annotations

import pytest

from dermbridge.accounts.models import Organisation, OrganisationKind, Role
from dermbridge.core.errors import InvalidReferral, NotPermitted, TransitionNotAllowed
from dermbridge.referrals import services
from dermbridge.referrals.models import Lesion, Message, Referral, State, StateChange
from dermbridge.testing import World, make_referral, make_user


def at_hub(world: World, state: str = State.DRAFT) -> Referral:
    referral = make_referral(world, state=state, images=state != State.DRAFT)
    Referral.objects.filter(pk=referral.pk).update(imaging_hub=world.hub)
    referral.refresh_from_db()
    return referral


def nothing_written(referral: Referral, lesions: int = 1) -> None:
    assert not Message.objects.filter(referral=referral).exists()
    assert not StateChange.objects.filter(referral=referral, action="returned_by_hub").exists()
    assert Lesion.objects.filter(referral=referral).count() == lesions


def test_only_the_hub_hands_a_referral_back_while_it_holds_it(world: World) -> None:
    referral = at_hub(world)
    other_hub = Organisation.objects.create(
        kind=OrganisationKind.IMAGING_HUB, name="Southgate", ods_code="Y08888"
    )
    stranger = make_user("sid", other_hub, Role.PHOTOGRAPHER)
    for user in (world.alice, world.derek, stranger):
        with pytest.raises(NotPermitted):
            services.return_to_gp(referral, user=user, reason="Declined")
    with pytest.raises(InvalidReferral) as empty:
        services.return_to_gp(referral, user=world.pat, reason="  ")
    assert empty.value.field_errors == {"reason": ["Required."]}
    nothing_written(referral)
    sent = at_hub(world, State.AWAITING_REVIEW)
    with pytest.raises(TransitionNotAllowed):
        services.return_to_gp(sent, user=world.pat, reason="Declined")
    message = services.return_to_gp(referral, user=world.pat, reason="Declined photography")
    referral.refresh_from_db()
    assert referral.imaging_hub is None and referral.state == State.DRAFT
    assert message.organisation == world.hub and "Declined photography" in message.body


def test_only_the_reviewing_dermatologist_sends_a_case_to_a_hub(world: World) -> None:
    waiting = make_referral(world, state=State.AWAITING_REVIEW)
    with pytest.raises(TransitionNotAllowed):  # nobody has claimed it: review it first
        services.send_to_hub(waiting, user=world.derek, hub=world.hub, reason="Blurred")
    referral = make_referral(world, state=State.IN_REVIEW)
    for user in (world.alice, world.sam, world.pat):
        with pytest.raises(NotPermitted):
            services.send_to_hub(referral, user=user, hub=world.hub, reason="Blurred")
    with pytest.raises(InvalidReferral):
        services.send_to_hub(referral, user=world.derek, hub=world.practice_a, reason="Blurred")
    with pytest.raises(InvalidReferral):
        services.send_to_hub(referral, user=world.derek, hub=world.hub, reason="")
    referral.refresh_from_db()
    assert referral.state == State.IN_REVIEW and referral.imaging_hub is None
    services.send_to_hub(referral, user=world.derek, hub=world.hub, reason="Blurred edge")
    referral.refresh_from_db()
    assert referral.state == State.MORE_INFO_REQUESTED and referral.imaging_hub == world.hub


def test_a_lesion_added_at_the_hub_needs_the_hub_a_reason_and_a_real_site(world: World) -> None:
    referral = at_hub(world)
    lesion = {"body_site_code": "77568009", "description": "Second mole"}
    with pytest.raises(NotPermitted):  # the GP adds lesions on their own page, without a reason
        services.add_lesion_at_hub(referral, user=world.alice, reason="Seen", **lesion)
    with pytest.raises(InvalidReferral):
        services.add_lesion_at_hub(referral, user=world.pat, reason=" ", **lesion)
    with pytest.raises(InvalidReferral) as bad_site:
        services.add_lesion_at_hub(
            referral, user=world.pat, reason="Seen", body_site_code="nowhere"
        )
    assert "lesions[2].body_site_code" in bad_site.value.field_errors
    nothing_written(referral)
    added = services.add_lesion_at_hub(referral, user=world.pat, reason="Changing", **lesion)
    assert added.number == 2
    (message,) = Message.objects.filter(referral=referral)
    assert "did not name it. Reason: Changing" in message.body
