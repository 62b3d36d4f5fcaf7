"""The domain errors every app raises, each with a message the person can act on.

One module, below every app (docs/adr/0010-boundaries.md), so that imaging, patients, interop
and the API framework can raise and answer the same errors without importing each other. Each
error says what went wrong in words for the user and, where one field is at fault,
`field_errors` names it: the web pages show the message beside that field, the API answers it
as a problem document (docs/api.md) with the status below. Raising one changes nothing: the
services check before they write.

    DomainError                      400  the request was understood but cannot be done
    ├── InvalidInput                 400  the data given is incomplete or wrong
    │   ├── InvalidReferral               a referral's question, history, lesions...
    │   ├── InvalidPatient                an NHS number, a date of birth, a consent
    │   └── InvalidImage                  an upload (empty, not a photo) or the image-set rules
    ├── NotConfigured                400  this installation lacks a setting the action needs
    ├── ExternalSystemFailed         400  another system (a PACS) refused or could not be reached
    ├── NotPermitted                 403  the user may see the thing but not do this to it
    ├── NotFound                     404  nothing by that name that this user may see
    └── TransitionNotAllowed         409  not possible from the current state
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: the request was understood but cannot be done; nothing was changed."""

    status_code = 400

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class InvalidInput(DomainError):
    """The data given is incomplete or wrong; `field_errors` names the field where it can."""


class InvalidReferral(InvalidInput):
    """A referral's data is incomplete or wrong (a missing history answer, an unknown pathway)."""


class InvalidPatient(InvalidInput):
    """A patient's details are wrong (an NHS number that fails its check digit, a bad date)."""


class InvalidImage(InvalidInput):
    """An upload that cannot be taken (empty, not a photo, too many) or an unknown image version."""


class NotConfigured(DomainError):
    """This installation lacks a setting the action needs (no PACS, say); the message names it.

    It keeps the 400 the API has always answered for it (docs/api.md)."""


class ExternalSystemFailed(DomainError):
    """Another system refused the request or could not be reached; the message says which and
    why. It keeps the 400 the API has always answered for it (docs/api.md)."""


class NotPermitted(DomainError):
    """The user may see the thing but not do this to it."""

    status_code = 403


class NotFound(DomainError):
    """No such thing that this user may see: the same answer whether it does not exist or
    belongs to someone else, so that references cannot be probed."""

    status_code = 404


class TransitionNotAllowed(DomainError):
    """The action is not possible from the current state (or by this user's role)."""

    status_code = 409
