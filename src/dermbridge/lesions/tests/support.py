"""Builders for the lesions tests: a patient with referrals over time, photos of known scale."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.utils import timezone

from dermbridge.imaging.blobrefs import sync_refs
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.imaging.storage import blob_store
from dermbridge.lesions.models import PatientLesion
from dermbridge.lesions.synthetic import dermoscopic_disc
from dermbridge.patients.models import Patient
from dermbridge.personas import World, make_referral
from dermbridge.referrals.models import Lesion, Referral, State

SITE = {"body_site_code": "77568009", "laterality": "left", "pigmented": True}


def disc_image(lesion: Lesion, user: Any, *, diameter_mm: float, phash: str = "") -> LesionImage:
    """A ready dermoscopic photo of a lesion `diameter_mm` across (no pipeline: fast)."""
    data = dermoscopic_disc(diameter_mm=diameter_mm, width=800, height=600, seed=int(diameter_mm))
    address = blob_store().put(data)
    sha = hashlib.sha256(data).hexdigest()
    entry = {
        "address": address,
        "sha256": sha,
        "size": len(data),
        "width": 800,
        "height": 600,
        "media_type": "image/jpeg",
    }
    image = LesionImage.objects.create(
        lesion=lesion,
        image_type=ImageType.DERMOSCOPIC,
        status=ImageStatus.READY,
        uploaded_by=user,
        derivatives={n: entry for n in ("master", "viewer", "thumbnail", "ai_input", "ers")},
        master_sha256=sha,
        perceptual_hash=phash,
        width=800,
        height=600,
        processed_at=timezone.now(),
    )
    sync_refs(image)
    return image


def visit(
    world: World,
    patient: Patient | None,
    *,
    size: float,
    description: str = "Pigmented macule, irregular edge",
    days_ago: int = 0,
    state: str = State.AWAITING_REVIEW,
    site: dict[str, Any] | None = None,
    phash: str = "",
) -> Referral:
    """A referral sent to world.service with one lesion photographed at `size` mm."""
    lesion = {**(site or SITE), "size_mm": size, "description": description}

    def photos(lesion_: Lesion, image_type: str, user: Any) -> LesionImage | None:
        if image_type == ImageType.DERMOSCOPIC:
            return disc_image(lesion_, user, diameter_mm=size, phash=phash)
        from dermbridge.personas import attach_ready_image

        return attach_ready_image(lesion_, image_type, user)

    referral = make_referral(
        world, state=state, patient=patient, lesions=[lesion], add_image=photos
    )
    if days_ago:
        when = timezone.now() - dt.timedelta(days=days_ago)
        Referral.objects.filter(pk=referral.pk).update(created_at=when, submitted_at=when)
        referral.refresh_from_db()
        # A lesion first photographed in this referral was first seen on its (earlier) date.
        PatientLesion.objects.filter(
            encounters__lesion__referral=referral, encounters__how="created"
        ).update(first_seen=timezone.localdate(when))
    return referral
