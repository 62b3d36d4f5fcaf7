"""Imaging work for the task worker. Tasks take ids, never image bytes or patient data."""

from __future__ import annotations

from django_tasks import task

from dermbridge.imaging import services


@task(queue_name="imaging")
def process_lesion_image(image_id: int) -> str:
    return services.process_lesion_image(image_id)


@task(queue_name="imaging")
def requeue_stuck_images() -> dict[str, int]:
    """Periodic (the scheduler): images left processing with no task are queued again."""
    return services.requeue_stuck_images()
