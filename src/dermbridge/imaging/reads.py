"""Reads of lesion images, each written to the audit trail (one layer audits reads)."""

from __future__ import annotations

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.imaging import services
from dermbridge.imaging.models import LesionImage
from dermbridge.referrals.services import acting_org_id


def visible_image(user: User, image_id: int) -> LesionImage | None:
    """The image (with its lesion and referral) if the user may see it; not audited."""
    return (  # type: ignore[no-any-return]
        services.images_visible_to(user)
        .select_related("lesion__referral")
        .filter(pk=image_id)
        .first()
    )


def view_image_status(user: User, image_id: int) -> LesionImage | None:
    """The image if the user may see it; the read of its processing status and quality is
    audited ("image.status")."""
    image = visible_image(user, image_id)
    if image is not None:
        referral = image.lesion.referral
        record(user, "image.status", image, organisation_id=acting_org_id(user, referral))
    return image
