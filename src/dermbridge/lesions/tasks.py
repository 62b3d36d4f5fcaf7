"""The lesions app's periodic work (queued by core/scheduler.py)."""

from __future__ import annotations

from django_tasks import task

from dermbridge.lesions import monitoring


@task(queue_name="notifications")
def tell_overdue_monitoring() -> int:
    """Tell the services of monitored lesions whose review date passed with no new photos."""
    return monitoring.tell_overdue()
