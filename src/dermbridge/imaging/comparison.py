"""Earlier photos of the same lesions, for the dermatologist to compare with a referral's.

The read is audited here (`referral.compare_view`, naming the earlier referrals shown) so that
the review page asks for the photos and the audit trail in one call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dermbridge.audit.services import record
from dermbridge.imaging.services import earlier_images
from dermbridge.referrals.services import acting_org_id

if TYPE_CHECKING:
    from dermbridge.accounts.models import User
    from dermbridge.imaging.models import LesionImage
    from dermbridge.referrals.models import Lesion, Referral


def earlier_images_of(
    user: User, referral: Referral, lesions: Iterable[Lesion]
) -> dict[int, list[LesionImage]]:
    """For each of `referral`'s `lesions` (by id), the photos of the same lesion from the
    patient's earlier referrals that `user` may see; which earlier referrals were shown is
    audited with this read (nothing is recorded when there were none)."""
    found = {lesion.pk: earlier_images(lesion, user=user) for lesion in lesions}
    shown = sorted({i.lesion.referral_id for images in found.values() for i in images})
    if shown:
        record(
            user,
            "referral.compare_view",
            referral,
            organisation_id=acting_org_id(user, referral),
            detail={"earlier_referrals": shown},
        )
    return found
