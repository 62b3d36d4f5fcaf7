"""Queueing a task as part of the transaction that needs it.

With the database task backend the task row lives in the same database as the data, so writing it
inside the transaction makes the two one commit: a process killed just after the commit cannot
leave a new image or a submitted referral with no task to process it (an ``on_commit`` enqueue
can). Other backends (the immediate backend the tests use, a broker) cannot join the
transaction; for them the task is queued on commit, and the periodic sweeps
(``imaging.processing.requeue_stuck_images``, ``referrals.services.requeue_stuck_submissions``)
pick up anything a crash lost.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_tasks_db.backend import DatabaseBackend


def enqueue_atomic(task: Any, *args: Any, **kwargs: Any) -> None:
    """Queue ``task`` so that it exists if and only if the current transaction commits."""
    if isinstance(task.get_backend(), DatabaseBackend):
        task.enqueue(*args, **kwargs)
    else:
        transaction.on_commit(lambda: task.enqueue(*args, **kwargs))
