"""A test-only task that blocks until released, for killing a worker in the middle of it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django_tasks import task

from dermbridge.notifications.services import deliver_outbox_message


@task(queue_name="notifications")
def send_when_released(message_id: int, gate_dir: str) -> str:
    """Mark that this process started the task, wait for the release file, then send the
    message (the real, idempotent outbox send: its side effect is one SMS line)."""
    gate = Path(gate_dir)
    (gate / f"started-{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while not (gate / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the task")
        time.sleep(0.05)
    return deliver_outbox_message(message_id)
