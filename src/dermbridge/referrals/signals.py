"""What the referral app tells the apps above it, without importing them (ADR 0012).

The referral app sits below imaging, triage and notifications (docs/adr/0010-boundaries.md), yet
its actions need them: a submitted referral must have a complete image set, a removed lesion's
photos must go with it, the patient must be told when their case moves, and the AI's agreement
with the dermatologist is recorded once an outcome is in. Each of these is a Django signal sent
here and received by the app that owns the reaction, connected in that app's `AppConfig.ready`.

Receivers run synchronously, inside the sender's transaction, and their errors propagate
(`send`, never `send_robust`): a notification that cannot be queued rolls the state change back,
exactly as the direct call it replaces did. A reaction that is slow (the AI, a PACS) is a task
the receiver enqueues with `core.queue.enqueue_atomic`, committed with the change.

`REQUIRED` lists the signals whose receivers are part of the product's safety: the system check
`dermbridge.E110` (referrals/checks.py) refuses to start when one has none, so that a referral
could never be sent without its image-set check because an app failed to load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.dispatch import Signal

if TYPE_CHECKING:
    from dermbridge.referrals.models import Lesion, Referral

# A referral event the patient and the clinicians may be told of ("submitted", "outcome",
# "info_requested", "converted", "withdrawn", "message", "near_breach", ...: the names are
# vocabulary.NotificationEvent). kwargs: referral, event, exclude_user (the author, not told).
referral_event = Signal()

# The dermatologist's outcome has been recorded. kwargs: referral.
outcome_recorded = Signal()

# A biopsy result has been added to the outcome. kwargs: referral.
histology_recorded = Signal()

# What stops these lesions' photos being sent. kwargs: referral, lesions. Each receiver returns
# a list of problems in words the referrer can act on.
image_set_problems = Signal()

# A lesion is being removed from a draft, or a whole draft deleted: the receivers remove what
# belongs to it (its photos and their blobs), audited as this user. kwargs: lesion or referral,
# user. Sent before the rows are deleted, in the same transaction.
lesion_removing = Signal()
draft_discarding = Signal()

REQUIRED = {
    "referral_event": referral_event,
    "outcome_recorded": outcome_recorded,
    "histology_recorded": histology_recorded,
    "image_set_problems": image_set_problems,
    "lesion_removing": lesion_removing,
    "draft_discarding": draft_discarding,
}


def problems_with_images(referral: Referral, lesions: list[Lesion]) -> list[str]:
    """Every image-set problem the receivers report for these lesions, in their order."""
    problems: list[str] = []
    for _, found in image_set_problems.send(sender=None, referral=referral, lesions=lesions):
        problems.extend(cast("list[str]", found))
    return problems
