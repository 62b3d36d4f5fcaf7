"""What reporting does when the referral app records a histology result (ADR 0012): checks
it for a missed cancer (reporting/safety.py). Connected in ReportingConfig.ready."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from dermbridge.referrals import signals
from dermbridge.reporting import safety


@receiver(signals.histology_recorded, dispatch_uid="reporting.histology_recorded")
def check_for_a_missed_cancer(sender: Any, *, referral: Any, **kwargs: Any) -> None:
    result = kwargs.get("result")
    if result is not None:  # the referral-level code (record_histology) names no lesion
        safety.check_result(result)
