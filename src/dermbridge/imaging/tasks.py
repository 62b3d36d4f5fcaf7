"""Imaging work for the task worker. Tasks take ids, never image bytes or patient data."""

from __future__ import annotations

from django_tasks import task

from dermbridge.imaging import services


@task(queue_name="imaging")
def process_lesion_image(image_id: int) -> str:
    return services.process_lesion_image(image_id)
