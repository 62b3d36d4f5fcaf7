"""The lesions of a referral, the dermatologist's answer for each, and the histology matched to
them by biopsy request identifier."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dermbridge.referrals.models.referral import Referral


class Laterality(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    MIDLINE = "midline", "Midline"
    BILATERAL = "bilateral", "Both sides"


class Lesion(models.Model):
    """One skin lesion in a referral, located on the body with a SNOMED CT-coded site."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="lesions")
    number = models.PositiveSmallIntegerField(default=1)
    body_site_code = models.CharField("Body site (SNOMED CT)", max_length=20)
    laterality = models.CharField(max_length=10, choices=Laterality.choices, blank=True)
    size_mm = models.DecimalField(
        "Largest diameter (mm)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    description = models.TextField(blank=True)
    pigmented = models.BooleanField(default=False)

    class Meta:
        ordering = ["referral", "number"]
        constraints = [
            models.UniqueConstraint(fields=["referral", "number"], name="unique_lesion_number")
        ]

    def __str__(self) -> str:
        return f"Lesion {self.number} ({self.body_site_label})"

    @property
    def body_site_label(self) -> str:
        from dermbridge.referrals.terminology import BODY_SITES

        site = BODY_SITES.get(self.body_site_code)
        return site.label if site else self.body_site_code


def diagnosis_term(code: str) -> str:
    """A diagnosis code's SNOMED CT term as the vocabulary holds it (an unknown code as it is)."""
    from dermbridge.referrals.terminology import DIAGNOSES

    dx = DIAGNOSES.get(code)
    return dx.label if dx else code


class Management(models.TextChoices):
    """What is done about one lesion (the ordering of urgency: referrals/severity.py)."""

    DISCHARGE = "discharge", "Discharge"
    MONITOR = "monitor", "Monitor, with a review date"
    BIOPSY = "biopsy", "Biopsy"
    EXCISION = "excision", "Excision"
    CLINIC = "clinic", "Refer to clinic"


class LesionOutcome(models.Model):
    """The dermatologist's answer for one lesion: its SNOMED CT diagnosis (with up to three
    ranked differentials), what is done about it, and -- when tissue is taken -- the biopsy
    request identifier the histology result is matched by (docs/adr/0014-per-lesion-outcome.md)."""

    lesion = models.OneToOneField(Lesion, on_delete=models.CASCADE, related_name="outcome")
    diagnosis_code = models.CharField("Diagnosis (SNOMED CT)", max_length=20)
    differential = models.JSONField(
        default=list, blank=True, help_text="Up to three SNOMED CT codes, most likely first."
    )
    management = models.CharField(max_length=12, choices=Management.choices)
    review_date = models.DateField(null=True, blank=True)
    biopsy_request_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    # True for rows the data migration made from a referral-level outcome (one diagnosis given
    # for the whole referral, copied to each of its lesions).
    from_referral_outcome = models.BooleanField(default=False, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lesion__referral", "lesion__number"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(management="monitor") | Q(review_date__isnull=False),
                name="monitor_needs_review_date",
            )
        ]

    def __str__(self) -> str:
        return f"Outcome for {self.lesion}"

    @property
    def diagnosis_term(self) -> str:
        return diagnosis_term(self.diagnosis_code)

    @property
    def diagnosis_label(self) -> str:
        """'Suspected …' / 'Likely …' (terminology.working_diagnosis, the one wording)."""
        from dermbridge.referrals.terminology import working_diagnosis

        return working_diagnosis(self.diagnosis_code)

    @property
    def differential_terms(self) -> list[str]:
        return [diagnosis_term(code) for code in self.differential]


def biopsy_request_id(referral: Referral, lesion_number: int) -> str:
    """The biopsy request's identifier, read out on the phone and printed on the pathology
    form: 'BX-' + the referral's reference without its 'DB-' + the lesion number."""
    return f"BX-{referral.reference.removeprefix('DB-')}-{lesion_number}"


class Margins(models.TextChoices):
    CLEAR = "clear", "Clear"
    INVOLVED = "involved", "Involved"
    NOT_ASSESSABLE = "not_assessable", "Not assessable"


class HistologySource(models.TextChoices):
    PAGE = "page", "Recorded on the histology page"
    FHIR = "fhir", "Received as a FHIR DiagnosticReport"


class HistologyResult(models.Model):
    """A pathology report on tissue from one lesion (issue #14 item 4), matched to the lesion by
    its biopsy request identifier. Idempotent on (report_system, report_identifier): the same
    report sent twice is one row."""

    lesion = models.ForeignKey(Lesion, on_delete=models.CASCADE, related_name="histology_results")
    biopsy_request_id = models.CharField(max_length=32)
    morphology_code = models.CharField("Histology diagnosis (SNOMED CT)", max_length=20)
    reported_on = models.DateField()
    report_text = models.TextField()
    margins = models.CharField(max_length=16, choices=Margins.choices)
    margin_mm = models.DecimalField(
        "Narrowest margin (mm)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    laboratory = models.CharField(max_length=200)
    report_system = models.CharField(max_length=200)
    report_identifier = models.CharField(max_length=64)
    source = models.CharField(max_length=8, choices=HistologySource.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lesion", "reported_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["report_system", "report_identifier"], name="one_row_per_histology_report"
            )
        ]

    def __str__(self) -> str:
        return f"Histology {self.report_identifier} for {self.lesion}"

    @property
    def morphology_term(self) -> str:
        from dermbridge.referrals.terminology import DIAGNOSES

        dx = DIAGNOSES.get(self.morphology_code)
        return dx.label if dx else self.morphology_code

    @property
    def malignant(self) -> bool:
        from dermbridge.referrals.terminology import DIAGNOSES

        dx = DIAGNOSES.get(self.morphology_code)
        return bool(dx and dx.malignant)
