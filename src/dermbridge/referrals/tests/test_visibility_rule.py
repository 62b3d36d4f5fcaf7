"""`Referral.is_visible_to` (the visibility rule asked of a row already read: the review page,
the image view, earlier photos) agrees with `Referral.objects.visible_to` (the rule in SQL) for
every persona, a user with several roles, an anonymous visitor, and referrals in every state,
with and without an imaging hub."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from dermbridge.accounts.models import Role
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import World, make_referral, make_user


def test_the_row_rule_agrees_with_the_query_rule(world: World) -> None:
    # Drafts through the real services, then moved to each state directly: the rule reads only
    # the state and the organisations.
    made = [
        make_referral(world, images=False),
        make_referral(world, images=False),
        make_referral(world, images=False, referrer=world.bob),
        make_referral(world, images=False, service=world.service_b),
        make_referral(world, images=False, referrer=world.bob),
    ]
    states = [State.DRAFT, State.AWAITING_REVIEW, State.AWAITING_REVIEW, State.IN_REVIEW]
    for referral, state in zip(made, states, strict=False):
        Referral.objects.filter(pk=referral.pk).update(state=state)
    # Photographed at the hub: one still a draft, one sent.
    Referral.objects.filter(pk__in=[made[0].pk, made[2].pk]).update(imaging_hub=world.hub)
    for state in (
        State.WITHDRAWN,
        State.CLOSED,
        State.TRIAGED,
        State.MORE_INFO_REQUESTED,
        State.CONVERTED,
    ):
        extra = make_referral(world, images=False)
        Referral.objects.filter(pk=extra.pk).update(state=state)
    several = make_user("sasha", world.practice_b, Role.PHOTOGRAPHER)
    make_user("sasha", world.service_b, Role.SERVICE_ADMIN)
    make_user("sasha", world.practice_a, Role.REFERRER)
    referrals = list(Referral.objects.all())
    assert len(referrals) == 10
    seen_somewhere = 0
    for user in [*world.users(), several]:
        fresh = type(user).objects.get(pk=user.pk)  # nothing cached from earlier questions
        by_query = set(Referral.objects.visible_to(fresh).values_list("pk", flat=True))
        by_row = {r.pk for r in referrals if r.is_visible_to(fresh)}
        assert by_row == by_query, user.username
        seen_somewhere += len(by_row)
    assert seen_somewhere > 10
    anonymous = AnonymousUser()
    assert not any(r.is_visible_to(anonymous) for r in referrals)  # type: ignore[arg-type]
