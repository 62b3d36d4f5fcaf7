"""Template context shared by every page: the signed-in user's roles for the navigation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from dermbridge.accounts.models import OrganisationKind, Role
from dermbridge.referrals.models import TargetStatus
from dermbridge.web.views.referring import starting_orgs


def labels(request: HttpRequest) -> dict[str, Any]:
    """Labels every page may show, read from their one definition (the model's choices)."""
    return {"target_labels": dict(TargetStatus.choices)}


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {"demo_mode": settings.DEMO_MODE}
    # (role, kind of organisation) of each membership: the read the role checks share
    # (User.held_memberships, once per request's user).
    held = {(role, kind) for role, _, kind in user.held_memberships()}  # type: ignore[union-attr]
    roles = {role for role, _ in held}
    service = OrganisationKind.DERMATOLOGY_SERVICE
    return {
        "demo_mode": settings.DEMO_MODE,
        "nav_refers": bool(roles & {Role.REFERRER, Role.PHOTOGRAPHER}),
        # Hub photographers photograph referrals a practice started; they start none.
        "nav_starts": Role.REFERRER in roles
        or (Role.PHOTOGRAPHER in roles and bool(starting_orgs(user))),  # type: ignore[arg-type]
        # The worklist, dashboard and letters are a dermatology service's; a hub's administrator
        # (the same role at an imaging hub) runs clinics instead.
        "nav_reviews": bool({(Role.DERMATOLOGIST, service), (Role.SERVICE_ADMIN, service)} & held),
        "nav_admin": (Role.SERVICE_ADMIN, service) in held,
        # A hub's clinics, booking list and day list (/hubs/).
        "nav_hub": Role.PHOTOGRAPHER in roles
        or (Role.SERVICE_ADMIN, OrganisationKind.IMAGING_HUB) in held,
    }
