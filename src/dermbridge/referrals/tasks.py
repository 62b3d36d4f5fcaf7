"""Referral work for the task worker. Tasks take ids and are safe to run twice."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from dermbridge.referrals import services
from dermbridge.referrals.models import OPEN_STATES, Referral


@task()
def prepare_for_review(referral_id: int) -> bool:
    """After submission: put the case on the service's worklist."""
    return services.queue_for_review(referral_id)


@task()
def requeue_stuck_submissions() -> int:
    """Periodic (the scheduler): submitted referrals whose review task was lost."""
    return services.requeue_stuck_submissions()


@task()
def warn_near_breaches() -> int:
    """Periodic (the scheduler): warn each service of open cases past their warning time, once
    per case and target (the service is told through referrals.signals.referral_event)."""
    due = Referral.objects.filter(
        state__in=OPEN_STATES, warn_at__lte=timezone.now(), breach_warned_at__isnull=True
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(due[:1000]) if services.warn_near_breach(pk))
