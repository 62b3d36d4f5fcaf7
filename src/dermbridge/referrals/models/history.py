"""The structured clinical history sent with a referral, and its answer choices."""

from __future__ import annotations

from django.db import models

from dermbridge.referrals.models.referral import Referral


class Presence(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Not known"


class Onset(models.TextChoices):
    WEEKS = "under_1_month", "Less than 1 month"
    MONTHS = "1_to_3_months", "1 to 3 months"
    MONTHS_LONG = "3_to_12_months", "3 to 12 months"
    YEARS = "over_1_year", "More than a year"
    LIFELONG = "lifelong", "Since birth or childhood"


class SunExposure(models.TextChoices):
    LOW = "low", "Low"
    MODERATE = "moderate", "Moderate"
    HIGH = "high", "High (outdoor work, sunbeds, years abroad)"


class ClinicalHistory(models.Model):
    """The structured minimum dataset a dermatologist needs alongside the images."""

    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="history")
    onset = models.CharField(max_length=20, choices=Onset.choices, blank=True)
    duration_detail = models.CharField(max_length=200, blank=True)
    multiple_lesions = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    changed_size = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    changed_shape = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    changed_colour = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    bleeding = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    itch = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    ulceration = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    pain = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    elevation = models.CharField(max_length=8, choices=Presence.choices, default=Presence.UNKNOWN)
    personal_history_skin_cancer = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    family_history_skin_cancer = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    immunosuppressed = models.CharField(
        max_length=8, choices=Presence.choices, default=Presence.UNKNOWN
    )
    sun_exposure = models.CharField(max_length=10, choices=SunExposure.choices, blank=True)
    medications = models.TextField(blank=True)
    allergies = models.TextField(blank=True)
    treatments_tried = models.TextField(blank=True)
    treatment_effect = models.TextField(blank=True)
    other_notes = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "clinical histories"

    def __str__(self) -> str:
        return f"History for {self.referral}"

    def missing_fields(self) -> list[str]:
        """Minimum-dataset items still unanswered (blocks submission)."""
        missing = []
        if not self.onset:
            missing.append("onset")
        for name in ("changed_size", "changed_shape", "changed_colour", "bleeding"):
            if getattr(self, name) == Presence.UNKNOWN:
                missing.append(name.replace("_", " "))
        return missing


# The yes / no / not known questions of the history, in form order (forms and FHIR share it).
PRESENCE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in ClinicalHistory._meta.local_fields if f.choices == Presence.choices
)
