"""`dermbridge scheduler --once` queues the near-breach scan and message retries."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dermbridge.core.scheduler import PERIODIC_TASKS
from dermbridge.notifications.models import OutboxMessage, OutboxStatus
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import World, make_referral

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "notifications", "imaging"],
    }
}


def test_it_warns_near_breaches_and_retries_due_messages_once(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a case past its warning time and a message whose backoff ran out
    WHEN the scheduler runs once THEN the service is warned and the message is sent."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    Referral.objects.filter(pk=referral.pk).update(warn_at=timezone.now() - timedelta(minutes=5))
    pending = OutboxMessage.objects.get(referral=referral, event="submitted")
    OutboxMessage.objects.filter(pk=pending.pk).update(
        attempts=1, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("scheduler", "--once", stdout=out)

    assert "warn_near_breaches" in out.getvalue()
    assert "retry_pending_messages" in out.getvalue()
    assert Referral.objects.get(pk=referral.pk).breach_warned_at is not None
    pending.refresh_from_db()
    assert pending.status == OutboxStatus.SENT
    recipients = sorted(r for m in mail.outbox for r in m.to)
    assert recipients == sorted(
        [referral.patient.email, world.service.email, world.derek.email, world.sam.email]
    )


def test_it_does_not_pile_up_copies_while_no_worker_runs(world: World) -> None:
    """GIVEN the database task queue and no worker WHEN the scheduler runs twice
    THEN each periodic task is waiting once, not twice."""
    with override_settings(TASKS=DATABASE_TASKS):
        call_command("scheduler", "--once", stdout=StringIO())
        out = StringIO()
        call_command("scheduler", "--once", stdout=out)
    assert "nothing" in out.getvalue()
    paths = sorted(DBTaskResult.objects.values_list("task_path", flat=True))
    # Each periodic task once (the list includes the near-breach scan and message retries).
    assert paths == sorted(PERIODIC_TASKS)
    assert "dermbridge.referrals.tasks.warn_near_breaches" in paths
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"READY"}
