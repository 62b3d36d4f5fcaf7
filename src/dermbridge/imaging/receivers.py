"""How imaging answers what the referral app tells it (referrals/signals.py, ADR 0012).

Connected in ImagingConfig.ready; each runs inside the referral's transaction."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from dermbridge.imaging import services
from dermbridge.referrals import signals


@receiver(signals.image_set_problems, dispatch_uid="imaging.image_set_problems")
def image_set_problems(sender: Any, *, referral: Any, lesions: Any, **kwargs: Any) -> list[str]:
    return services.image_set_problems(referral, lesions)


@receiver(signals.lesion_removing, dispatch_uid="imaging.lesion_removing")
def remove_lesion_photos(sender: Any, *, lesion: Any, user: Any, **kwargs: Any) -> None:
    for image in list(lesion.images.all()):
        services.delete_image(image, user=user)


@receiver(signals.draft_discarding, dispatch_uid="imaging.draft_discarding")
def discard_draft_photos(sender: Any, *, referral: Any, user: Any, **kwargs: Any) -> None:
    services.discard_draft_images(referral, user=user)


@receiver(signals.outcome_recorded, dispatch_uid="imaging.outcome_recorded")
def keep_photos_used_for_the_decision(sender: Any, *, referral: Any, **kwargs: Any) -> None:
    services.mark_images_used_for_decision(referral)
