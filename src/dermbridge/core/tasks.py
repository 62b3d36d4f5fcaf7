"""Project-wide periodic work for the task worker (queued by `dermbridge scheduler`)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from dermbridge.core import reconcile

# The scheduler ticks every few minutes; a little under a day keeps the daily run from drifting.
RECONCILE_EVERY = timedelta(hours=23, minutes=30)


@task()
def reconcile_daily() -> str:
    """Run `reconcile --repair` once a day: skipped while the last run is less than a day old."""
    last = reconcile.last_run()
    if last is not None and timezone.now() - last.at < RECONCILE_EVERY:
        return "skipped"
    report = reconcile.run(repair=True)
    return f"{report.problems} problems, {report.repaired} repaired"
