"""The lists of referrals people work from, each read audited where it is made.

- `gp_referral_list`: a referring practice's or imaging hub's referrals, grouped by what they
  need (the "Your referrals" page);
- `review_worklist`: a dermatology service's open cases, filtered and paged (the worklist).

Each writes one `referral.list` event naming the page and what it showed: the pages ask here
rather than querying and calling the audit trail themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Q

from dermbridge.accounts.models import Organisation, Role
from dermbridge.audit.services import record
from dermbridge.core.errors import NotFound
from dermbridge.core.rows import read_one, read_prepared
from dermbridge.referrals.models import Lesion, Referral, State

if TYPE_CHECKING:
    from dermbridge.accounts.models import User

CAPTURE_ROLES = (Role.REFERRER, Role.PHOTOGRAPHER)
REVIEW_ROLES = (Role.DERMATOLOGIST, Role.SERVICE_ADMIN)
NEEDS_ACTION = (State.DRAFT, State.MORE_INFO_REQUESTED)
ANSWERED = (State.ADVICE_GIVEN, State.TRIAGED, State.CLOSED, State.WITHDRAWN)
LIST_LIMIT = 50
PAGE_SIZE = 25


class ReferralGroup(NamedTuple):
    title: str
    slug: str
    referrals: list[Referral]


def gp_referral_list(user: User) -> list[ReferralGroup]:
    """The referrals of the practices and hubs where `user` refers or takes photos: what needs
    doing, what was sent, what was answered (the newest `LIST_LIMIT`). NotFound for a user who
    does neither anywhere."""
    org_ids = user.organisation_ids(*CAPTURE_ROLES)
    if not org_ids:
        raise NotFound("You do not refer or take photos for any organisation.")
    rows = list(
        Referral.objects.visible_to(user)
        .filter(Q(referring_org_id__in=org_ids) | Q(imaging_hub_id__in=org_ids))
        .select_related("patient", "service")
        .order_by("-created_at")
    )
    groups = [
        ReferralGroup(
            "Needs your action", "needs-action", [r for r in rows if r.state in NEEDS_ACTION]
        ),
        ReferralGroup("Sent", "sent", [r for r in rows if r.state not in NEEDS_ACTION + ANSWERED]),
        ReferralGroup(
            "Answered", "answered", [r for r in rows if r.state in ANSWERED][:LIST_LIMIT]
        ),
    ]
    record(
        user,
        "referral.list",
        object_type="referrals.referral",
        detail={"page": "my_referrals", "count": len(rows)},
    )
    return groups


def review_services(user: User) -> list[Organisation]:
    """The dermatology services whose worklist `user` may open (by name). Most reviewers review
    for one service: that one is read by its key with a prepared statement (core.rows)."""
    ids = user.organisation_ids(*REVIEW_ROLES)
    if len(ids) == 1:
        only = read_one(Organisation, (), "id", next(iter(ids)))
        return [only] if only is not None else []
    return list(Organisation.objects.filter(pk__in=ids))


@dataclass(frozen=True)
class WorklistFilters:
    """What the worklist is narrowed to; empty (or None) means any."""

    kind: str = ""
    state: str = ""
    breach: str = ""  # 'breached' or 'near'
    ai_band: str | None = None  # a band key, or "" for cases the AI has not assessed
    has_photo: bool | None = None  # cases with (True) or without (False) a `photo_type` photo
    mine: bool = False


def review_worklist(
    user: User,
    service: Organisation,
    filters: WorklistFilters,
    *,
    page: str | int | None,
    photo_type: str,
) -> Page[Any]:
    """One page of `service`'s open cases (USC first, then AI risk, then target), each annotated
    with `has_photo`: whether it has a photo of `photo_type` (the page asks about dermoscopic
    photos; still one query, an EXISTS per row shown). The cases shown are audited."""
    # Page 1 without a time-dependent (breach) filter: the same key, the same SQL and parameters.
    key = None
    if not filters.breach:
        mine = user.pk if filters.mine else None
        key = ("worklist", service.pk, filters, mine, photo_type, PAGE_SIZE)
    shown = _page(lambda: _cases(user, service, filters, photo_type), page, key)
    record(
        user,
        "referral.list",
        object_type="referrals.referral",
        organisation_id=service.pk,
        detail={"page": "worklist", "shown": [r.pk for r in shown.object_list]},
    )
    return shown


def _cases(user: User, service: Organisation, filters: WorklistFilters, photo_type: str) -> Any:
    photos = Lesion.objects.filter(referral=OuterRef("pk"), images__image_type=photo_type)
    queryset: Any = (
        Referral.objects.worklist(service.pk)
        .select_related("patient", "claimed_by")
        .annotate(has_photo=Exists(photos))
    )
    if filters.kind:
        queryset = queryset.filter(kind=filters.kind)
    if filters.state:
        queryset = queryset.filter(state=filters.state)
    if filters.breach:
        queryset = queryset.breach(filters.breach)
    if filters.ai_band is not None:
        queryset = queryset.filter(ai_band=filters.ai_band)
    if filters.has_photo is not None:
        queryset = queryset.filter(has_photo=filters.has_photo)
    if filters.mine:
        queryset = queryset.filter(claimed_by=user)
    return queryset


def _page(make: Any, page: str | int | None, key: tuple[Any, ...] | None) -> Page[Any]:
    """`Paginator(make(), PAGE_SIZE).get_page(page)` with its rows read once (for the audit and
    the page). Page 1 is read first, by `key` with SQL compiled once per process
    (core.rows.read_prepared) when there is one; when it is not full it holds every case, so
    it is its own count (no COUNT query)."""
    if page in (None, "", "1", 1):
        if key is not None:
            first = read_prepared((*key, "page 1"), lambda: make()[:PAGE_SIZE])
        else:
            first = list(make()[:PAGE_SIZE])
        if len(first) < PAGE_SIZE:
            return Paginator(first, PAGE_SIZE).page(1)
        shown = Paginator(make(), PAGE_SIZE).page(1)
        shown.object_list = first
        return shown
    shown = Paginator(make(), PAGE_SIZE).get_page(page)
    shown.object_list = list(shown.object_list)
    return shown
