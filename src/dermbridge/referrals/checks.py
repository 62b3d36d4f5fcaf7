"""System checks: `dermbridge check` (and migrate, runserver) warns about unreviewed codes."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Warning, register

from dermbridge.referrals import terminology


@register()
def snomed_codes_reviewed(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Hazard H-07: codes not yet checked against the UK Edition are named at every start.

    A deployment whose clinical safety officer has checked them silences this with
    DERMBRIDGE_SILENCED_CHECKS=dermbridge.W001 after updating terminology.py and the log.
    """
    pending = terminology.to_review()
    if not pending:
        return []
    return [
        Warning(
            f"{len(pending)} SNOMED CT codes in the curated lists need review against the UK "
            "Edition (no published source found for the id, or a known doubt): "
            + ", ".join(f"{c.code} {c.label}" for c in pending)
            + ".",
            hint="Hazard H-07 in docs/hazard-log.md: a clinical safety officer checks them "
            "before clinical use (src/dermbridge/referrals/terminology.py).",
            id="dermbridge.W001",
        )
    ]


@register()
def referral_signals_received(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The apps above the referral app must have connected their reactions (referrals/signals.py):
    without imaging's receiver a draft with no photos could be sent, without notifications' the
    patient would never be told. Refuse to start rather than run without them."""
    from dermbridge.referrals.signals import REQUIRED

    return [
        Error(
            f"No app receives the referral signal {name!r}.",
            hint="Each of imaging, triage and notifications connects its receivers in its "
            "AppConfig.ready (ADR 0012): check INSTALLED_APPS lists them.",
            id="dermbridge.E110",
        )
        for name, signal in REQUIRED.items()
        if not signal.has_listeners()
    ]
