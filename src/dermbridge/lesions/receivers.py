"""How the lesions app answers what the apps below tell it (ADR 0012).

A referral's lesion photographed and sent becomes (or waits to be linked to) a PatientLesion:
on submit for photos the referrer took, and when a photo is ready for a referral already sent
(an imaging hub photographs after the referral is made). Connected in LesionsConfig.ready;
each runs inside the sender's transaction."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from dermbridge.imaging.signals import image_ready
from dermbridge.lesions import services
from dermbridge.referrals import signals


@receiver(signals.referral_event, dispatch_uid="lesions.referral_event")
def track_sent_lesions(sender: Any, *, referral: Any, event: str, **kwargs: Any) -> None:
    if event != "submitted":
        return
    for lesion in referral.lesions.all():
        services.note_photographed(lesion)


@receiver(image_ready, dispatch_uid="lesions.image_ready")
def track_photographed_lesion(sender: Any, *, image: Any, **kwargs: Any) -> None:
    services.note_photographed(image.lesion)


@receiver(signals.outcome_recorded, dispatch_uid="lesions.outcome_recorded")
def follow_monitoring(sender: Any, *, referral: Any, **kwargs: Any) -> None:
    """A lesion the dermatologist chose to monitor gets its review date (or loses it)."""
    services.follow_outcomes(referral)
