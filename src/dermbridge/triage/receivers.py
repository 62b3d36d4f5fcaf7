"""How the AI answers what imaging and the referral app tell it (ADR 0012): a photo ready for its
pre-read, an outcome or a biopsy result to compare its reading with. Each enqueues a task in the
sender's transaction (core.queue.enqueue_atomic), so the work is committed with the change that
asked for it and runs on the triage queue. Connected in TriageConfig.ready."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from dermbridge.core.queue import enqueue_atomic
from dermbridge.imaging.models import ImageType
from dermbridge.imaging.signals import image_ready
from dermbridge.referrals import signals
from dermbridge.triage import tasks


@receiver(image_ready, dispatch_uid="triage.image_ready")
def pre_read_dermoscopic_photo(sender: Any, *, image: Any, **kwargs: Any) -> None:
    if image.image_type == ImageType.DERMOSCOPIC:
        enqueue_atomic(tasks.assess_image, image.pk)


@receiver(signals.outcome_recorded, dispatch_uid="triage.outcome_recorded")
@receiver(signals.histology_recorded, dispatch_uid="triage.histology_recorded")
def compare_with_the_dermatologist(sender: Any, *, referral: Any, **kwargs: Any) -> None:
    enqueue_atomic(tasks.record_agreement, referral.pk)
