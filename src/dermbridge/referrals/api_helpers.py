"""What the referral API views share: finding a referral or lesion the caller may see (404 and
an audited refusal otherwise) and answering with the full referral."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from dermbridge.accounts.api import acting_user
from dermbridge.api.errors import record_access_denied
from dermbridge.api.views import int_or_404
from dermbridge.referrals import reads
from dermbridge.referrals.models import Lesion, Referral
from dermbridge.referrals.serializers import ReferralSerializer


def _refused(request: Request, reference: str) -> NotFound:
    record_access_denied(request, "referrals.referral", reference[:40])
    return NotFound(f"No referral {reference} that you can see.")


def visible_referral(request: Request, reference: str) -> Referral:
    referral = Referral.objects.visible_to(acting_user(request)).filter(reference=reference).first()
    if referral is None:
        raise _refused(request, reference)
    return referral


def visible_lesion(request: Request, reference: str, number: int) -> Lesion:
    """Lesion `number` of a referral the caller may see (404 otherwise, audited)."""
    referral = visible_referral(request, reference)
    lesion = referral.lesions.filter(number=int_or_404(number)).first()  # type: ignore[attr-defined]
    if lesion is None:
        raise NotFound(f"Referral {reference} has no lesion {number}.")
    return lesion  # type: ignore[no-any-return]


def render_referral(request: Request, reference: str, *, code: int = 200) -> Response:
    """The full referral as this user may see it; the read is audited."""
    referral = reads.view_referral(acting_user(request), reference)
    if referral is None:
        raise _refused(request, reference)
    data = ReferralSerializer(referral, context={"request": request}).data
    return Response(data, status=code)
