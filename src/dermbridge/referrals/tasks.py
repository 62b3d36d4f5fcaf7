"""Referral work for the task worker. Tasks take ids and are safe to run twice."""

from __future__ import annotations

from django_tasks import task

from dermbridge.referrals import services


@task()
def prepare_for_review(referral_id: int) -> bool:
    """After submission: put the case on the service's worklist."""
    return services.queue_for_review(referral_id)


@task()
def requeue_stuck_submissions() -> int:
    """Periodic (the scheduler): submitted referrals whose review task was lost."""
    return services.requeue_stuck_submissions()
