"""Template context shared by every page: the signed-in user's roles for the navigation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from dermbridge.accounts.models import Role


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {"demo_mode": settings.DEMO_MODE}
    roles = user.roles  # type: ignore[union-attr]
    return {
        "demo_mode": settings.DEMO_MODE,
        "nav_refers": bool(roles & {Role.REFERRER, Role.PHOTOGRAPHER}),
        "nav_reviews": bool(roles & {Role.DERMATOLOGIST, Role.SERVICE_ADMIN}),
        "nav_admin": Role.SERVICE_ADMIN in roles,
    }
