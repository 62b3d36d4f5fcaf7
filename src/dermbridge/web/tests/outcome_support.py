"""The review page's outcome form as a test posts it: the referral's fields, and for each
lesion (prefix ``lesion-<number>``) a diagnosis and management."""

from __future__ import annotations

from typing import Any

from dermbridge.referrals.models import Referral
from dermbridge.referrals.severity import management_for_decision


def outcome_post(
    referral: Referral,
    data: dict[str, Any],
    *,
    diagnosis_code: str | None = None,
    management: str | None = None,
    **per_lesion: Any,
) -> dict[str, Any]:
    """``data`` (the referral's fields; a ``diagnosis_code`` in it is given to every lesion)
    plus each lesion's fields: ``per_lesion`` keys like ``review_date`` apply to every lesion;
    the management defaults to the one the referral's decision implies."""
    posted = {k: v for k, v in data.items() if k != "diagnosis_code"}
    code = data.get("diagnosis_code", "") if diagnosis_code is None else diagnosis_code
    if management is None:
        management = management_for_decision(str(data.get("pathway_decision", "")))
    for lesion in referral.lesions.order_by("number"):
        prefix = f"lesion-{lesion.number}"
        posted[f"{prefix}-diagnosis_code"] = code
        posted[f"{prefix}-management"] = management
        for name, value in per_lesion.items():
            posted[f"{prefix}-{name}"] = value
    return posted
