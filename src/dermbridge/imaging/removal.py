"""Removing photos from a draft, and keeping those a clinical decision used: a photo that
informed a decision is part of the patient's record and is never deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from dermbridge.audit.services import record
from dermbridge.core.errors import TransitionNotAllowed
from dermbridge.imaging import blobrefs
from dermbridge.imaging.intake import _check_can_add_images, _org
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.referrals.models import Referral

if TYPE_CHECKING:
    from dermbridge.accounts.models import User


@transaction.atomic
def delete_image(image: LesionImage, *, user: User) -> None:
    """Remove an image from a draft. Images that informed a clinical decision are part of the record."""
    image = (
        LesionImage.objects.select_for_update().select_related("lesion__referral").get(pk=image.pk)
    )
    referral = _check_can_add_images(image.lesion, user)
    if image.informed_decision:
        raise TransitionNotAllowed(
            "This image informed a clinical decision and is part of the patient's record."
        )
    addresses = blobrefs.image_addresses(image)
    record(user, "image.delete", image, organisation_id=_org(user, referral))
    image.delete()  # its BlobRefs go with it (cascade)
    # After the commit, each blob goes unless another image (the same bytes) still names it.
    blobrefs.release_on_commit(addresses)


def discard_draft_images(referral: Referral, *, user: User) -> None:
    images = list(LesionImage.objects.filter(lesion__referral=referral))
    if any(i.informed_decision for i in images):
        raise TransitionNotAllowed("Images that informed a decision cannot be deleted.")
    ids = [i.pk for i in images]
    addresses = set().union(*(blobrefs.image_addresses(i) for i in images)) if images else set()
    LesionImage.objects.filter(pk__in=ids).delete()
    blobrefs.release_on_commit(addresses)


def mark_images_used_for_decision(referral: Referral) -> int:
    return LesionImage.objects.filter(
        lesion__referral=referral, status=ImageStatus.READY, informed_decision=False
    ).update(informed_decision=True)
