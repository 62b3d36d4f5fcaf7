"""A patient's lesions as long-lived records (FHIR BodyStructure) and the link from each
referral's lesion to the patient's lesion it shows (docs/adr/0014-patient-lesions.md).

`referrals.Lesion` is one lesion *in one referral*: what the referrer described that day. A
`PatientLesion` is the mole itself, on the patient, across every referral and hub visit that
photographed it. `LesionEncounter` says which referral lesion shows which patient lesion, who
said so, when and how; it is the only place the link lives, so re-linking a wrong match is one
row changed (audited), and the referrals app's tables are never written by this app.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class LinkHow(models.TextChoices):
    CREATED = "created", "New lesion (first time photographed)"
    CONFIRMED = "confirmed", "Suggested match confirmed"
    MANUAL = "manual", "Linked by hand"
    NEW = "new", "Suggestion rejected: a new lesion"


def new_lesion_uid() -> str:
    """A DICOM UID (2.25 + a UUID as an integer): stable for the lesion's whole life, so a
    PACS can group its images across studies and years."""
    return f"2.25.{uuid.uuid4().int}"


class PatientLesion(models.Model):
    """One lesion on one patient, followed over time."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="tracked_lesions"
    )
    # The public identifier (FHIR BodyStructure.identifier, DICOM): never the database id.
    uid = models.CharField(max_length=64, unique=True, default=new_lesion_uid, editable=False)
    body_site_code = models.CharField("Body site (SNOMED CT)", max_length=20)
    laterality = models.CharField(max_length=10, blank=True)
    description = models.TextField(blank=True)
    first_seen = models.DateField()
    # "Monitor": the date by which new photos are due. Follows the latest visit's per-lesion
    # outcome (referrals.LesionOutcome, lesions.services.follow_outcome) or a date set by hand
    # (set_monitoring); the newer decision wins.
    monitor_until = models.DateField(null=True, blank=True)
    monitor_set_at = models.DateTimeField(null=True, blank=True)
    monitor_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    overdue_notified_on = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["patient", "first_seen", "id"]

    def __str__(self) -> str:
        return f"Lesion {self.uid[-6:]} ({self.body_site_label})"

    @property
    def body_site_label(self) -> str:
        from dermbridge.referrals.terminology import BODY_SITES

        site = BODY_SITES.get(self.body_site_code)
        return site.label if site else self.body_site_code

    @property
    def label(self) -> str:
        """'Left upper back': the lesion's name in sentences and in DICOM's Tracking ID (kept
        stable, since exported studies already carry it)."""
        side = f"{self.laterality} " if self.laterality in ("left", "right") else ""
        return f"{side}{self.body_site_label}".strip().capitalize()

    @property
    def site_and_side(self) -> str:
        """'Upper back (left)': how the referral and review pages name a lesion's place."""
        from dermbridge.referrals.models import Laterality

        if not self.laterality:
            return self.body_site_label
        side = (
            Laterality(self.laterality).label
            if self.laterality in Laterality.values
            else self.laterality
        )
        return f"{self.body_site_label} ({side.lower()})"


class LesionEncounter(models.Model):
    """This referral's lesion shows that patient lesion: who linked them, when, and how."""

    lesion = models.OneToOneField(
        "referrals.Lesion", on_delete=models.CASCADE, related_name="encounter"
    )
    patient_lesion = models.ForeignKey(
        PatientLesion, on_delete=models.PROTECT, related_name="encounters"
    )
    how = models.CharField(max_length=12, choices=LinkHow.choices)
    # The suggestion's score when a suggestion was confirmed (0-1), for the audit of matching.
    score = models.FloatField(null=True, blank=True)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["patient_lesion", "linked_at", "id"]

    def __str__(self) -> str:
        return f"{self.lesion_id} -> {self.patient_lesion_id} ({self.how})"


class LinkChange(models.Model):
    """History of every link made, changed or undone, shown to the dermatologist ("who linked
    what"); the audit trail has the same events, this is the readable copy."""

    lesion = models.ForeignKey("referrals.Lesion", on_delete=models.CASCADE, related_name="+")
    from_lesion = models.ForeignKey(
        PatientLesion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_lesion = models.ForeignKey(PatientLesion, on_delete=models.PROTECT, related_name="+")
    how = models.CharField(max_length=12, choices=LinkHow.choices)
    reason = models.CharField(max_length=300, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.lesion_id}: {self.from_lesion_id} -> {self.to_lesion_id}"


class PhotoMeasurement(models.Model):
    """The lesion measured in one dermoscopic photo (lesions/analysis.py), kept so that the
    comparison page does not decode every visit's photo on every view. Recomputed when the
    algorithm's version or the configured field of view changes."""

    image = models.OneToOneField(
        "imaging.LesionImage", on_delete=models.CASCADE, related_name="lesion_measurement"
    )
    version = models.PositiveSmallIntegerField()
    fov_mm = models.FloatField(null=True, blank=True)
    # Measurement.as_dict(), or {"error": "why it could not be measured"}.
    results = models.JSONField(default=dict)
    measured_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"measurement of image {self.image_id}"
