"""Reads of referrals, each written to the audit trail (one layer audits reads).

The API calls these instead of querying and auditing itself; a lookup that finds nothing
returns None and the caller answers 404 (recording the refusal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db.models import Prefetch, QuerySet

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.referrals import services
from dermbridge.referrals.models import Lesion, Message, Referral

# Picks the page of a list to show (the API's paginator); None when there is none.
Paginate = Callable[[QuerySet[Referral]], Sequence[Referral] | None]


def detail_queryset(user: User) -> QuerySet[Referral]:
    """The referrals the user may see, with everything the full referral shows loaded at once:
    lesions by number and their images (in upload order, LesionImage's own ordering),
    messages, outcome and history."""
    lesions = Lesion.objects.order_by("number").prefetch_related("images")
    return (
        Referral.objects.visible_to(user)
        .select_related(
            "patient__registered_practice",
            "service",
            "referring_org",
            "imaging_hub",
            "referrer",
            "claimed_by",
            "history",
            "outcome__recorded_by",
        )
        .prefetch_related(
            Prefetch("lesions", queryset=lesions),
            Prefetch("messages", queryset=Message.objects.select_related("author", "organisation")),
        )
    )


def view_referral(user: User, reference: str) -> Referral | None:
    """The full referral if the user may see it; the read is audited ("referral.view")."""
    referral = detail_queryset(user).filter(reference=reference).first()
    if referral is not None:
        services.view_referral(referral, user=user)
    return referral


def list_referrals(user: User, paginate: Paginate, **filters: str) -> list[Referral]:
    """A page of the referrals the user may see (filtered by kind and state), newest first; the
    references listed are audited ("referral.list")."""
    queryset = (
        Referral.objects.visible_to(user)
        .filter(**filters)
        .select_related("patient__registered_practice", "service", "referring_org")
        .order_by("-created_at", "-id")
    )
    page = list(paginate(queryset) or [])
    record(
        user,
        "referral.list",
        object_type="referrals.referral",
        detail={"references": [r.reference for r in page]},
    )
    return page
