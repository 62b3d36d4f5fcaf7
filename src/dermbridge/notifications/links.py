"""Patient status links: a no-login link per referral that opens the patient's status page
(its token stored only as a hash, with an expiry), and the signal through which an app above
adds a section to that page (ADR 0012)."""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from dermbridge.audit.services import record
from dermbridge.notifications.models import PatientStatusLink
from dermbridge.notifications.status import PatientStatus, StatusSection, describe

if TYPE_CHECKING:
    from dermbridge.referrals.models import Referral

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


# ---------------------------------------------------------------- patient status links


def issue_status_link(referral: Referral) -> str:
    """Create a new patient status link and return its URL (the token is stored only hashed)."""
    token = secrets.token_urlsafe(32)
    PatientStatusLink.objects.create(
        referral=referral,
        token_sha256=PatientStatusLink.hash_token(token),
        expires_at=timezone.now() + timedelta(days=settings.PATIENT_LINK_DAYS),
    )
    return f"{settings.SITE_URL}/status/{token}/"


def open_status_link(token: str) -> PatientStatus | None:
    """What the holder of a status link may see, or None for an unknown or expired link.

    Opening is audited as a system read (no signed-in user): the patient, or whoever holds
    the link, saw where this referral stands.
    """
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    now = timezone.now()
    with transaction.atomic():
        link = (
            PatientStatusLink.objects.select_for_update()
            .select_related("referral__patient")
            .filter(token_sha256=PatientStatusLink.hash_token(token), expires_at__gt=now)
            .first()
        )
        if link is None:
            return None
        link.last_opened_at = now
        link.save(update_fields=["last_opened_at"])
        record(None, "status.view", link.referral, detail={"link": link.pk})
        status = describe(link.referral)
        answers: Sequence[tuple[Any, object]] = status_page_sections.send(
            sender=PatientStatus, referral=link.referral
        )
        sections = [s for _, s in answers if isinstance(s, StatusSection)]
        return dataclasses.replace(status, sections=tuple(sections))


# Sent while a status page is built, with `referral`: an app above (clinics: the photography
# appointment) returns a `StatusSection` to show on it, or None (ADR 0012: the call goes up by
# a signal this app declares).
status_page_sections = Signal()


@dataclass(frozen=True)
class LinkHolder:
    """Who holds a live status link: the link's id (for the audit trail) and its referral."""

    link_id: int
    referral_id: int


def resolve_status_link(token: str) -> LinkHolder | None:
    """The live link a token opens, for a change the patient asks for through it (confirm an
    appointment); None for an unknown, malformed or expired link. Reads nothing else."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    row = (
        PatientStatusLink.objects.filter(
            token_sha256=PatientStatusLink.hash_token(token), expires_at__gt=timezone.now()
        )
        .values_list("pk", "referral_id")
        .first()
    )
    return LinkHolder(*row) if row else None
