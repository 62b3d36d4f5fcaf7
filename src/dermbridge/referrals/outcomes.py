"""The dermatologist's answer, the next case, and the service's patient-explanation templates.

Every change is audited; templates belong to one service and only its service administrators
change them; a dermatologist of the service reads them to start a patient explanation.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from dermbridge.accounts.models import Role, User
from dermbridge.audit.services import record
from dermbridge.core.errors import DomainError, InvalidReferral, NotPermitted
from dermbridge.referrals import services
from dermbridge.referrals.models import ExplanationTemplate, Referral, State

TITLE_MAX = 80
TEXT_MAX = 4000


def next_case(user: User, service_id: int, *, after: Referral | None = None) -> Referral | None:
    """Claim the next case of this service's worklist for this dermatologist and return it.

    The next case is the first in worklist order (USC, AI risk, target) that is waiting for
    review, or already claimed by this dermatologist; ``after`` (the case just answered) is
    skipped. A case someone else claims in the meantime is passed over (claim refuses it), so
    two dermatologists pressing at once never get the same case. None when nothing is left.
    """
    if service_id not in user.organisation_ids(Role.DERMATOLOGIST):
        return None
    queue = Referral.objects.worklist(service_id)
    if after is not None:
        queue = queue.exclude(pk=after.pk)
    mine = queue.filter(state=State.IN_REVIEW, claimed_by=user).first()
    if mine is not None:
        return mine
    waiting = queue.filter(state__in=(State.AWAITING_REVIEW, State.CONVERTED), claimed_by=None)
    for candidate in waiting[:10]:
        try:
            return services.claim(candidate, user=user)
        except DomainError:
            continue  # taken by someone else a moment ago, or no longer waiting
    return None


def templates_for(referral: Referral) -> list[ExplanationTemplate]:
    """The active patient-explanation templates of the referral's service."""
    return list(ExplanationTemplate.objects.filter(service_id=referral.service_id, active=True))


def _check_admin(user: User, service_id: int) -> None:
    if service_id not in user.organisation_ids(Role.SERVICE_ADMIN):
        raise NotPermitted("Only the service's administrators manage its patient explanations.")


def _clean(title: Any, text: Any) -> tuple[str, str]:
    title, text = str(title or "").strip(), str(text or "").strip()
    errors: dict[str, list[str]] = {}
    if not title:
        errors["title"] = ["Enter a title, such as 'Benign mole: discharge'."]
    elif len(title) > TITLE_MAX:
        errors["title"] = [f"The title must be {TITLE_MAX} characters or fewer."]
    if not text:
        errors["text"] = ["Enter the explanation the patient will read."]
    elif len(text) > TEXT_MAX:
        errors["text"] = [f"The explanation must be {TEXT_MAX} characters or fewer."]
    if errors:
        raise InvalidReferral("Check the patient explanation.", field_errors=errors)
    return title, text


@transaction.atomic
def save_template(
    user: User,
    service_id: int,
    *,
    title: Any,
    text: Any,
    template: ExplanationTemplate | None = None,
) -> ExplanationTemplate:
    """Create a template for the service, or change one of its own; audited."""
    _check_admin(user, service_id)
    title, text = _clean(title, text)
    if template is not None and template.service_id != service_id:
        raise NotPermitted("That explanation belongs to another service.")
    same_title = ExplanationTemplate.objects.filter(service_id=service_id, title__iexact=title)
    if template is not None:
        same_title = same_title.exclude(pk=template.pk)
    if same_title.exists():
        raise InvalidReferral(
            "Check the patient explanation.",
            field_errors={"title": ["Another explanation already has this title."]},
        )
    created = template is None
    if template is None:
        template = ExplanationTemplate(service_id=service_id)
    template.title, template.text, template.updated_by, template.active = title, text, user, True
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as exc:  # the same title saved at the same moment
        raise InvalidReferral(
            "Check the patient explanation.",
            field_errors={"title": ["Another explanation already has this title."]},
        ) from exc
    record(
        user,
        "explanation_template.create" if created else "explanation_template.update",
        template,
        organisation_id=service_id,
        detail={"title": title},
    )
    return template


@transaction.atomic
def retire_template(user: User, template: ExplanationTemplate) -> ExplanationTemplate:
    """Take a template out of the dermatologists' list (kept, so the audit trail still names it)."""
    _check_admin(user, template.service_id)
    template.active = False
    template.updated_by = user
    template.save(update_fields=["active", "updated_by", "updated_at"])
    record(
        user,
        "explanation_template.retire",
        template,
        organisation_id=template.service_id,
        detail={"title": template.title},
    )
    return template
