from dermbridge.referrals.models import Referral, State
from dermbridge.testing import make_referral


def test_it_walks_a_referral_to_each_state(world):
    for state in [State.DRAFT, State.AWAITING_REVIEW, State.TRIAGED, State.CLOSED, State.WITHDRAWN]:
        referral = make_referral(world, state=state)
        assert Referral.objects.get(pk=referral.pk).state == state
