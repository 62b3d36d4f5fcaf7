"""Messages on a referral: the service asks for more information, the referrer replies, and
either side posts a message. Re-exported by services.py, the referral app's one interface."""

from __future__ import annotations

from django.db import transaction

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidReferral, NotPermitted
from dermbridge.referrals import permissions, signals
from dermbridge.referrals.events import notify_referral_event
from dermbridge.referrals.models import Message, MessageKind, Referral
from dermbridge.referrals.transitions import acting_org_id, apply_transition, lock_referral


@transaction.atomic
def request_more_information(referral: Referral, *, user: User, question: str) -> Message:
    if not question.strip():
        raise InvalidReferral("Say what information you need.")
    referral = lock_referral(referral)
    apply_transition(referral, "request_info", user)
    message = Message.objects.create(
        referral=referral,
        author=user,
        organisation_id=referral.service_id,
        kind=MessageKind.INFO_REQUEST,
        body=question.strip(),
    )
    notify_referral_event(referral, "info_requested")
    return message


@transaction.atomic
def reply_with_information(referral: Referral, *, user: User, body: str) -> Message:
    if not body.strip():
        raise InvalidReferral("Write a reply to the dermatologist's question.")
    referral = lock_referral(referral)
    permissions.check(user, "reply_info", referral)
    problems = signals.problems_with_images(referral, list(referral.lesions.all()))
    if problems:
        raise InvalidReferral("The reply cannot be sent yet: " + " ".join(problems))
    referral.claimed_by, referral.claimed_at = None, None
    apply_transition(referral, "reply_info", user)
    org_id = acting_org_id(user, referral) or referral.referring_org_id
    return Message.objects.create(
        referral=referral,
        author=user,
        organisation_id=org_id,
        kind=MessageKind.INFO_REPLY,
        body=body.strip(),
    )


@transaction.atomic
def post_message(referral: Referral, *, user: User, body: str) -> Message:
    if not body.strip():
        raise InvalidReferral("The message is empty.")
    if len(body) > 10000:
        raise InvalidReferral("Messages are limited to 10,000 characters.")
    referral = lock_referral(referral)
    permissions.check(user, "send_message", referral)
    org_id = acting_org_id(user, referral)
    if org_id is None:  # cannot happen: the rule names the referrer and the service
        raise NotPermitted("Only the referrer and the dermatology service can message here.")
    message = Message.objects.create(
        referral=referral, author=user, organisation_id=org_id, body=body.strip()
    )
    record(user, "message.create", message, organisation_id=org_id)
    notify_referral_event(referral, "message", exclude_user=user)
    return message
