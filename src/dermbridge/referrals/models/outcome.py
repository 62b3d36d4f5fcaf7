"""The dermatologist's referral-level answer, and a service's reusable explanations for patients."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dermbridge.referrals.models.lesions import diagnosis_term
from dermbridge.referrals.models.referral import PathwayDecision, Referral


class Outcome(models.Model):
    """The dermatologist's answer: diagnosis, plan, advice, and the pathway decision."""

    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="outcome")
    diagnosis_code = models.CharField("Diagnosis (SNOMED CT)", max_length=20)
    management_plan = models.TextField()
    advice_to_referrer = models.TextField()
    patient_explanation = models.TextField(help_text="Plain English, read by the patient.")
    pathway_decision = models.CharField(max_length=20, choices=PathwayDecision.choices)
    histology_code = models.CharField(
        "Histology diagnosis (SNOMED CT)",
        max_length=20,
        blank=True,
        help_text="Recorded later when a biopsy result is available.",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Outcome for {self.referral}"

    @property
    def diagnosis_term(self) -> str:
        """The SNOMED CT term as recorded, for clinicians' own records and reports."""
        return diagnosis_term(self.diagnosis_code)

    @property
    def diagnosis_label(self) -> str:
        """The diagnosis as the GP and the patient are told it: "Suspected …" / "Likely …"
        until histology confirms it (``terminology.working_diagnosis``, the one wording)."""
        from dermbridge.referrals.terminology import working_diagnosis

        return working_diagnosis(self.diagnosis_code, self.histology_code)


class ExplanationTemplate(models.Model):
    """A service's reusable plain-English explanation for patients: the dermatologist picks one
    on the review page and edits it before sending. Managed by the service administrator."""

    service = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="explanation_templates"
    )
    title = models.CharField(max_length=80)
    text = models.TextField(max_length=4000)
    active = models.BooleanField(default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "title"], name="one_explanation_title_per_service"
            )
        ]

    def __str__(self) -> str:
        return self.title
