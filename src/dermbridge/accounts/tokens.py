"""API tokens for capture apps and GP systems: one per user account, issued and revoked audited."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token

from dermbridge.accounts.models import User
from dermbridge.audit.services import record


@transaction.atomic
def issue_api_token(user: User, *, issued_by: User | None, rotate: bool = False) -> Token:
    """The user's API token, created if needed; `rotate` revokes the old one first.

    `issued_by` is the person who asked (the user signing in), or None for the command line.
    """
    if rotate:
        Token.objects.filter(user=user).delete()
    token, created = Token.objects.get_or_create(user=user)
    record(issued_by, "api.token_issued", user, detail={"new": created, "rotated": rotate})
    return token
