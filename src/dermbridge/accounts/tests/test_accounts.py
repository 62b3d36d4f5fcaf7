"""People and organisations: password hashing, several organisations per person."""

from __future__ import annotations

from django.test import Client

from dermbridge.accounts.models import Membership, Role, User
from dermbridge.referrals.models import State
from dermbridge.testing import World, make_referral


def test_passwords_are_hashed_with_argon2(settings, db):
    """The suite runs a fast hasher; this test puts the production list back and checks it."""
    from dermbridge import settings as production

    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    user = User.objects.create_user(username="hash", password="correct-horse-battery")
    assert user.password.startswith("argon2$argon2id$")
    assert user.check_password("correct-horse-battery") and not user.check_password("wrong")


def test_a_person_who_works_for_two_practices_sees_each_practices_referrals(
    client: Client, world: World
) -> None:
    """GIVEN a locum GP who works at Riverside and Hillview
    THEN both practices' referrals are in their list, and a third organisation's are not."""
    locum = User.objects.create_user(username="locum", password="correct-horse-battery")
    for practice in (world.practice_a, world.practice_b):
        Membership.objects.create(user=locum, organisation=practice, role=Role.REFERRER)
    riverside = make_referral(world, state=State.AWAITING_REVIEW)
    hillview = make_referral(world, referrer=world.bob, state=State.AWAITING_REVIEW)
    client.force_login(locum)
    page = client.get("/referrals/").content.decode()
    assert riverside.reference in page and hillview.reference in page
    assert client.get(f"/referrals/{hillview.pk}/").status_code == 200
    assert locum.organisation_ids(Role.REFERRER) == {world.practice_a.pk, world.practice_b.pk}
    assert client.get("/worklist/").status_code == 404  # not a reviewer anywhere
