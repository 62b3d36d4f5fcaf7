"""Reads of lesion images, each written to the audit trail (one layer audits reads)."""

from __future__ import annotations

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidImage
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.imaging.storage import blob_store
from dermbridge.referrals.models import Lesion, Referral
from dermbridge.referrals.services import acting_org_id


def visible_image(user: User, image_id: int) -> LesionImage | None:
    """The image (with its lesion and referral) if the user may see it; not audited."""
    return (  # type: ignore[no-any-return]
        images_visible_to(user).select_related("lesion__referral").filter(pk=image_id).first()
    )


def view_image_status(user: User, image_id: int) -> LesionImage | None:
    """The image if the user may see it; the read of its processing status and quality is
    audited ("image.status")."""
    image = visible_image(user, image_id)
    if image is not None:
        referral = image.lesion.referral
        record(user, "image.status", image, organisation_id=acting_org_id(user, referral))
    return image


VIEWABLE = ("thumbnail", "viewer", "master", "ers")


def read_derivative(image: LesionImage, name: str, *, user: User) -> tuple[bytes, str]:
    """Decrypt one derivative for an authorised viewer; every view is audited."""
    if name not in VIEWABLE:
        raise InvalidImage(f"Unknown image version {name!r}.")
    entry = image.derivatives.get(name)
    if image.status != ImageStatus.READY or not entry:
        raise InvalidImage("This image is not available.")
    data = blob_store().get(entry["address"])
    record(
        user,
        "image.view",
        image,
        organisation_id=acting_org_id(user, image.lesion.referral),
        detail={"version": name},
    )
    return data, entry["media_type"]


def images_visible_to(user: User):  # type: ignore[no-untyped-def]
    return LesionImage.objects.filter(lesion__referral__in=Referral.objects.visible_to(user))


def earlier_images(lesion: Lesion, *, user: User, limit: int = 6) -> list[LesionImage]:
    """Ready photos of the same lesion from the patient's earlier referrals, newest first, for
    side-by-side comparison: same patient, same SNOMED CT body site and laterality, a referral
    created before this one, and only referrals this user may see."""
    referral = lesion.referral
    return list(
        images_visible_to(user)
        .filter(
            status=ImageStatus.READY,
            lesion__referral__patient_id=referral.patient_id,
            lesion__body_site_code=lesion.body_site_code,
            lesion__laterality=lesion.laterality,
            lesion__referral__created_at__lt=referral.created_at,
        )
        .exclude(lesion__referral=referral)
        .select_related("lesion__referral")
        .order_by("-lesion__referral__created_at", "id")[:limit]
    )
