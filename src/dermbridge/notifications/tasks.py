"""Background sending of outbox messages and the scan for cases about to breach their target."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from dermbridge.notifications.channels import DeliveryError, EmailChannel, sms_channel
from dermbridge.notifications.models import Channel, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


@task(queue_name="notifications")
def send_outbox_message(message_id: int) -> str:
    """Send one outbox message; a second run after success does nothing."""
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status != OutboxStatus.PENDING:
            return "skipped"
        message.attempts += 1
        try:
            if message.channel == Channel.EMAIL:
                EmailChannel().send(message.recipient, message.subject, message.body)
            else:
                sms_channel().send(message.recipient, message.body)
        except DeliveryError as exc:
            message.last_error = str(exc)[:300]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboxStatus.FAILED
            message.save()
            log.warning("outbox message %s not delivered (attempt %s)", message.pk, message.attempts)
            return "retry"
        message.status, message.sent_at, message.last_error = OutboxStatus.SENT, timezone.now(), ""
        message.save()
    return "sent"


@task(queue_name="notifications")
def retry_pending_messages() -> int:
    pending = OutboxMessage.objects.filter(status=OutboxStatus.PENDING).values_list("pk", flat=True)
    count = 0
    for pk in pending[:500]:
        send_outbox_message.call(pk)
        count += 1
    return count


@task(queue_name="notifications")
def warn_near_breaches() -> int:
    """Tell the service about open cases that have passed their warning time. Sends once per case."""
    from dermbridge.referrals.services import warn_near_breach

    from dermbridge.referrals.models import OPEN_STATES, Referral

    due = Referral.objects.filter(
        state__in=OPEN_STATES, warn_at__lte=timezone.now(), breach_warned_at__isnull=True
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(due[:1000]) if warn_near_breach(pk))
