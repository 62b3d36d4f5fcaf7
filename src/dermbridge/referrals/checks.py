"""System checks: `dermbridge check` (and migrate, runserver) warns about unreviewed codes."""

from __future__ import annotations

from typing import Any

from django.core.checks import Warning, register

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
