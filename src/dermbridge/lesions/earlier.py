"""Earlier photos of a referral's lesions for the review page: from the lesion's own history
once a dermatologist has linked it, and only then called "this lesion".

A linked lesion's earlier photos are those of the other visits of its `PatientLesion`
(referrals created before this one that the user may see). A lesion not yet linked gets
imaging's guess -- same patient, body site and side -- labelled as a guess, with the way to
link it: two naevi on the same forearm are not one lesion because they share a site (issue #14).

The read is audited once for the page (`referral.compare_view`, naming the earlier referrals
shown).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.imaging.services import earlier_images
from dermbridge.lesions.models import LesionEncounter
from dermbridge.referrals.models import Lesion, Referral
from dermbridge.referrals.services import acting_org_id

LIMIT = 6


@dataclass
class Earlier:
    """A lesion's earlier photos; `linked` says they are of this lesion by a clinician's link,
    not a guess from its site and side."""

    images: list[LesionImage] = field(default_factory=list)
    linked: bool = False
    patient_lesion_id: int | None = None


def _linked_images(
    user: User, referral: Referral, patient_lesion_id: int, lesion: Lesion
) -> list[LesionImage]:
    others = LesionEncounter.objects.filter(patient_lesion_id=patient_lesion_id).exclude(
        lesion=lesion
    )
    candidates = (
        LesionImage.objects.filter(
            status=ImageStatus.READY,
            lesion_id__in=others.values("lesion_id"),
            lesion__referral__created_at__lt=referral.created_at,
        )
        .select_related("lesion__referral")
        .order_by("-lesion__referral__created_at", "id")
    )
    return [image for image in candidates if image.lesion.referral.is_visible_to(user)][:LIMIT]


def earlier_photos(user: User, referral: Referral, lesions: Iterable[Lesion]) -> dict[int, Earlier]:
    """For each of `referral`'s `lesions` (by id): its earlier photos, linked or guessed."""
    lesions = list(lesions)
    links = dict(
        LesionEncounter.objects.filter(lesion__in=lesions).values_list(
            "lesion_id", "patient_lesion_id"
        )
    )
    found: dict[int, Earlier] = {}
    for lesion in lesions:
        patient_lesion_id = links.get(lesion.pk)
        if patient_lesion_id is not None:
            images = _linked_images(user, referral, patient_lesion_id, lesion)
            found[lesion.pk] = Earlier(images, linked=True, patient_lesion_id=patient_lesion_id)
        else:
            found[lesion.pk] = Earlier(earlier_images(lesion, user=user, limit=LIMIT))
    shown = sorted({i.lesion.referral_id for e in found.values() for i in e.images})
    if shown:
        record(
            user,
            "referral.compare_view",
            referral,
            organisation_id=acting_org_id(user, referral),
            detail={"earlier_referrals": shown},
        )
    return found
