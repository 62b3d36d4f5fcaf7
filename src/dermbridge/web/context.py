"""Template context shared by every page: the signed-in user's roles for the navigation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from dermbridge.accounts.models import Role
from dermbridge.referrals.models import TargetStatus
from dermbridge.web.views.referring import starting_orgs


def labels(request: HttpRequest) -> dict[str, Any]:
    """Labels every page may show, read from their one definition (the model's choices)."""
    return {"target_labels": dict(TargetStatus.choices)}


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {"demo_mode": settings.DEMO_MODE}
    roles = user.roles  # type: ignore[union-attr]
    return {
        "demo_mode": settings.DEMO_MODE,
        "nav_refers": bool(roles & {Role.REFERRER, Role.PHOTOGRAPHER}),
        # Hub photographers photograph referrals a practice started; they start none.
        "nav_starts": Role.REFERRER in roles
        or (Role.PHOTOGRAPHER in roles and bool(starting_orgs(user))),  # type: ignore[arg-type]
        "nav_reviews": bool(roles & {Role.DERMATOLOGIST, Role.SERVICE_ADMIN}),
        "nav_admin": Role.SERVICE_ADMIN in roles,
        # A hub's clinics, booking list and day list (/hubs/); no query beyond the roles.
        "nav_hub": Role.PHOTOGRAPHER in roles,
    }
