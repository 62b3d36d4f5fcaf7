"""Reads of referrals, each written to the audit trail (one layer audits reads).

The API calls these instead of querying and auditing itself; a lookup that finds nothing
returns None and the caller answers 404 (recording the refusal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db.models import Prefetch, QuerySet

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.core.rows import read_prepared
from dermbridge.referrals import services
from dermbridge.referrals.models import Lesion, Message, Referral, StateChange

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


def referral_for_review(user: User, pk: int) -> Referral | None:
    """The referral `pk` with what the review page shows of it in one row (patient, service,
    referrer, the clinical history and the answer with who recorded it), if `user` may see it
    (`Referral.is_visible_to`); None otherwise. Not audited here: the page audits what it shows
    (`services.view_referral`) and records a refusal. The statement is prepared once per
    process (core.rows.read_prepared), run with the key."""
    found = read_prepared(
        ("referrals.review",),
        lambda key: (
            Referral.objects.select_related(
                "patient",
                "service",
                "referring_org",
                "imaging_hub",
                "referrer",
                "claimed_by",
                "history",
                "outcome__recorded_by",
            )
            .filter(pk=key)
            .order_by()
        ),
        args=(pk,),
    )
    referral = found[0] if found else None
    if referral is None or not referral.is_visible_to(user):
        return None
    return referral


def lesions_of(referral: Referral) -> list[Lesion]:
    """The referral's lesions by number, from a prepared statement, each with its referral
    cached (``lesion.referral`` asks nothing), and kept as ``referral.lesions.all()``'s result
    for the rest of the request (as prefetch_related keeps it)."""
    lesions = read_prepared(
        ("referrals.lesions_of",),
        lambda key: Lesion.objects.filter(referral_id=key).order_by("number"),
        args=(referral.pk,),
    )
    field = Lesion._meta.get_field("referral")
    for lesion in lesions:
        field.set_cached_value(lesion, referral)  # type: ignore[attr-defined]
    kept = referral.lesions.all()  # type: ignore[attr-defined]
    kept._result_cache = lesions
    kept._prefetch_done = True  # type: ignore[attr-defined]
    referral._prefetched_objects_cache = {  # type: ignore[attr-defined]
        **getattr(referral, "_prefetched_objects_cache", {}),
        "lesions": kept,
    }
    return lesions


def state_changes_of(referral: Referral) -> list[StateChange]:
    """``referral.state_changes.select_related("actor")`` (in time order), prepared."""
    return read_prepared(
        ("referrals.state_changes_of",),
        lambda key: StateChange.objects.filter(referral_id=key).select_related("actor"),
        args=(referral.pk,),
    )


def messages_of(referral: Referral) -> list[Message]:
    """``referral.messages.select_related("author", "organisation")`` (in time order),
    prepared."""
    return read_prepared(
        ("referrals.messages_of",),
        lambda key: Message.objects.filter(referral_id=key).select_related(
            "author", "organisation"
        ),
        args=(referral.pk,),
    )
