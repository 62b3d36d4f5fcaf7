"""Reads of lesion images, each written to the audit trail (one layer audits reads)."""

from __future__ import annotations

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidImage
from dermbridge.core.rows import read_one
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


def viewable_image(user: User, media_key: str) -> LesionImage | None:
    """The image at ``media_key`` (with its lesion and referral) if the user may see its
    referral; not audited. One prepared query by the unique key (`core.rows.read_one`: the
    photo views' hottest statement, compiled once per process instead of on every request),
    and the visibility rule asked of the row read (`Referral.is_visible_to`, the same rule as
    `visible_to`), instead of a query that nests the visibility subquery."""
    image = read_one(LesionImage, ("lesion", "referral"), "media_key", media_key)
    if image is None:
        return None
    return image if image.lesion.referral.is_visible_to(user) else None


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
    created before this one, and only referrals this user may see.

    The visibility rule is asked of each row read (`Referral.is_visible_to`, the rule of
    `visible_to`) rather than nested in the query: one patient's earlier photos of one site
    are few, and the nested rule cost more CPU than the rows (docs/benchmarks/view-cost.json)."""
    referral = lesion.referral
    candidates = (
        LesionImage.objects.filter(
            status=ImageStatus.READY,
            lesion__referral__patient_id=referral.patient_id,
            lesion__body_site_code=lesion.body_site_code,
            lesion__laterality=lesion.laterality,
            lesion__referral__created_at__lt=referral.created_at,
        )
        .exclude(lesion__referral=referral)
        .select_related("lesion__referral")
        .order_by("-lesion__referral__created_at", "id")
    )
    return [image for image in candidates if image.lesion.referral.is_visible_to(user)][:limit]
