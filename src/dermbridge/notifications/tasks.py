"""Background sending of outbox messages and the scan for cases about to breach their target.

Tasks take ids and are safe to run twice; the work is in `services` (notifications, referrals).
"""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from dermbridge.notifications import services

# Kept here for callers that think of retries as the task's business.
MAX_ATTEMPTS = services.MAX_ATTEMPTS


@task(queue_name="notifications")
def send_outbox_message(message_id: int) -> str:
    """Send one outbox message: 'sent', 'retry', 'failed', or 'skipped' (sent already)."""
    return services.deliver_outbox_message(message_id)


@task(queue_name="notifications")
def retry_pending_messages() -> int:
    """Queue a send for every pending message whose backoff has run out (run by the scheduler)."""
    due = services.messages_due_for_retry()
    for pk in due:
        send_outbox_message.enqueue(pk)
    return len(due)


@task(queue_name="notifications")
def warn_near_breaches() -> int:
    """Tell each service about open cases past their warning time, once per case and target."""
    from dermbridge.referrals.models import OPEN_STATES, Referral
    from dermbridge.referrals.services import warn_near_breach

    due = Referral.objects.filter(
        state__in=OPEN_STATES, warn_at__lte=timezone.now(), breach_warned_at__isnull=True
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(due[:1000]) if warn_near_breach(pk))
