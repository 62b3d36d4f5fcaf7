"""AI inference as its own worker queue. Tasks take ids."""

from __future__ import annotations

from django_tasks import task

from dermbridge.triage import services


@task(queue_name="triage")
def assess_image(image_id: int) -> bool:
    return services.assess_image(image_id) is not None


@task(queue_name="triage")
def record_agreement(referral_id: int) -> int:
    return services.record_agreement(referral_id)
