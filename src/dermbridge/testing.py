"""Test builders: the personas world and referrals in any workflow state, for the tests.

The builders themselves are production code in `dermbridge.personas` (the demo data uses them);
tests import them from here, and helpers only tests need go here, never in production modules.
"""

from __future__ import annotations

from dermbridge.personas import (
    DEFAULT_HISTORY,
    DEFAULT_LESION,
    World,
    attach_ready_image,
    make_patient,
    make_referral,
    make_user,
    make_world,
    nhs_number_for,
)

__all__ = [
    "DEFAULT_HISTORY",
    "DEFAULT_LESION",
    "World",
    "attach_ready_image",
    "make_patient",
    "make_referral",
    "make_user",
    "make_world",
    "nhs_number_for",
]
