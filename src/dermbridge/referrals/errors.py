"""Errors the referral services raise, each with a message a clinician can act on."""

from __future__ import annotations


class ReferralError(Exception):
    """Base class: the request was understood but cannot be done; nothing was changed."""

    status_code = 400

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class InvalidReferral(ReferralError):
    """The data given is incomplete or wrong (bad NHS number, missing history...)."""


class TransitionNotAllowed(ReferralError):
    """The action is not possible from the referral's current state or by this user."""

    status_code = 409


class NotPermitted(ReferralError):
    """The user may see the referral but not do this to it."""

    status_code = 403
