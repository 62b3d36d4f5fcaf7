"""API tokens for capture apps and GP systems: one per user account, issued and revoked audited."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token

from dermbridge.accounts.authentication import token_expired
from dermbridge.accounts.models import User
from dermbridge.audit.services import record


@transaction.atomic
def issue_api_token(user: User, *, issued_by: User | None, rotate: bool = False) -> Token:
    """The user's API token, created if needed; `rotate` revokes the old one first.

    An expired token is replaced by a new one. `issued_by` is the person who asked (the user
    signing in), or None for the command line.
    """
    current = Token.objects.select_for_update().filter(user=user).first()
    expired = current is not None and token_expired(current)
    if current is not None and (rotate or expired):
        current.delete()
    token, created = Token.objects.get_or_create(user=user)
    record(
        issued_by,
        "api.token_issued",
        user,
        detail={"new": created, "rotated": rotate, "replaced_expired": expired},
    )
    return token
