"""Terms stored in model fields of more than one app, as Django ``TextChoices``.

They live below the apps so that ``accounts`` (a service's rules name pathways and image
types) need not import ``referrals`` or ``imaging``. ``referrals.models.ReferralKind`` and
``imaging.models.ImageType`` are these same classes, re-exported.
"""

from __future__ import annotations

from django.db import models


class ReferralKind(models.TextChoices):
    """The pathway a referral takes (``Referral.kind``)."""

    ADVICE = "ag", "Advice & Guidance"
    TRIAGE = "ras", "Referral triage"
    URGENT_CANCER = "usc", "Urgent suspected cancer"


class ImageType(models.TextChoices):
    """What a lesion photograph shows (``LesionImage.image_type``)."""

    OVERVIEW = "overview", "Overview (locating)"
    CLOSE_UP = "close_up", "Close-up"
    DERMOSCOPIC = "dermoscopic", "Dermoscopic"
