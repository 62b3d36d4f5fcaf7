"""A referral's response target: when it is due and when the service is warned, by pathway.

Set when a referral is sent, and again when its pathway changes (converted, downgraded).
"""

from __future__ import annotations

from datetime import datetime

from dermbridge.accounts.models import Organisation
from dermbridge.referrals import clocks
from dermbridge.referrals.models import Referral, ReferralKind


def set_clock(referral: Referral, service: Organisation, start: datetime) -> None:
    """Start the referral's clock at ``start``: its due date and near-breach warning date."""
    if referral.kind == ReferralKind.URGENT_CANCER:
        referral.due_at = clocks.fds_due(start)
        # Warn with a quarter of the 28 days left (day 21).
        referral.warn_at = referral.due_at - (referral.due_at - start) / 4
    else:
        days = (
            service.ag_target_working_days
            if referral.kind == ReferralKind.ADVICE
            else service.ras_target_working_days
        )
        referral.due_at = clocks.add_working_days(start, days)
        referral.warn_at = clocks.add_working_days(
            referral.due_at, -service.near_breach_working_days
        )
        referral.warn_at = max(referral.warn_at, start)
    # A new target owes the service a new near-breach warning.
    referral.breach_warned_at = None


def result_clock(start: datetime, working_days: int, warn_days: int) -> tuple[datetime, datetime]:
    """The result clock after a photography visit at a hub (issue #13): the patient's result is
    due `working_days` working days after `start`, and the service is warned `warn_days` working
    days before (never before `start`), as for the response target above."""
    due = clocks.add_working_days(start, working_days)
    warn = max(clocks.add_working_days(due, -warn_days), start)
    return due, warn
