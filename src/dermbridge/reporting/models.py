"""Patient-safety events the reporting app raises (issue #14 item 5)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class MissedCancer(models.Model):
    """Histology showed a cancer in a lesion that the service or the AI had called benign, or
    that the service discharged or only monitored: a patient-safety event for the service's
    review, raised when the histology is recorded (reporting/safety.py)."""

    histology = models.OneToOneField(
        "referrals.HistologyResult", on_delete=models.CASCADE, related_name="missed_cancer"
    )
    lesion = models.ForeignKey("referrals.Lesion", on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT, related_name="+")
    # What was said of the lesion before the histology, frozen when the event was raised.
    service_diagnosis_code = models.CharField(max_length=20, blank=True)
    service_management = models.CharField(max_length=12, blank=True)
    service_missed = models.BooleanField(help_text="Called benign, discharged or monitored.")
    ai_missed_versions = models.JSONField(
        default=list, blank=True, help_text="Model versions whose riskiest reading was low."
    )
    raised_at = models.DateTimeField(default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]

    def __str__(self) -> str:
        return f"Missed cancer: {self.histology.biopsy_request_id}"
