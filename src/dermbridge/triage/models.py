"""The AI pre-read of a dermoscopic image, kept with the model version that produced it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RiskBand(models.TextChoices):
    HIGH = "high", "High — consider the urgent suspected cancer pathway"
    INTERMEDIATE = "intermediate", "Intermediate"
    LOW = "low", "Low — may suit a discharge pathway, if a dermatologist agrees"


class Assessment(models.Model):
    """A triage model's probabilities and risk band for one dermoscopic image, or why it abstained."""

    image = models.ForeignKey(
        "imaging.LesionImage", on_delete=models.CASCADE, related_name="assessments"
    )
    model_version = models.CharField(max_length=40)
    input_sha256 = models.CharField(max_length=64)
    probabilities = models.JSONField(default=dict)
    malignant_probability = models.FloatField(null=True, blank=True)
    malignant_interval = models.JSONField(default=list, blank=True)
    band = models.CharField(max_length=16, choices=RiskBand.choices, blank=True)
    abstained = models.BooleanField(default=False)
    abstention_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "model_version"], name="one_assessment_per_model"
            )
        ]

    def __str__(self) -> str:
        return f"AI assessment of image {self.image_id} ({self.model_version})"


class Agreement(models.Model):
    """How the AI's pre-read compared with the dermatologist's diagnosis (and histology, when known)."""

    referral = models.ForeignKey(
        "referrals.Referral", on_delete=models.CASCADE, related_name="ai_agreements"
    )
    model_version = models.CharField(max_length=40)
    ai_malignant_probability = models.FloatField()
    ai_band = models.CharField(max_length=16, choices=RiskBand.choices)
    ai_suggests_malignant = models.BooleanField(help_text="AI band high or intermediate.")
    dermatologist_diagnosis_code = models.CharField(max_length=20)
    dermatologist_malignant = models.BooleanField(help_text="Malignant or pre-malignant diagnosis.")
    histology_code = models.CharField(max_length=20, blank=True)
    histology_malignant = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["referral", "model_version"], name="one_agreement_per_referral_model"
            )
        ]

    def __str__(self) -> str:
        return f"AI agreement for {self.referral} ({self.model_version})"
