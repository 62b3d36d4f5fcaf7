"""Background sending of outbox messages. Tasks take ids and are safe to run twice; the work is
in `services`. (The scan for cases about to breach their target is the referral app's:
referrals/tasks.py, which tells this app through a signal.)
"""

from __future__ import annotations

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
