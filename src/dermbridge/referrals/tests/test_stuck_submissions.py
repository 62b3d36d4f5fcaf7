"""A submitted referral whose review task was lost (a crash between commit and enqueue, a broker
that dropped it) is queued again by the periodic sweep, and reaches the worklist."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from dermbridge.referrals import services
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import make_referral


def test_a_referral_left_submitted_reaches_the_worklist(world, django_capture_on_commit_callbacks):
    referral = make_referral(world, state=State.SUBMITTED)
    Referral.objects.filter(pk=referral.pk).update(
        submitted_at=timezone.now() - services.STUCK_SUBMISSION_AFTER - timedelta(minutes=1)
    )
    fresh = make_referral(world, state=State.SUBMITTED)
    Referral.objects.filter(pk=fresh.pk).update(submitted_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert services.requeue_stuck_submissions() == 1
    referral.refresh_from_db()
    fresh.refresh_from_db()
    assert referral.state == State.AWAITING_REVIEW
    assert fresh.state == State.SUBMITTED  # its own task is still on its way
    assert services.requeue_stuck_submissions() == 0
