"""Patients, how to reach them, and what they have agreed to."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from nhs_number import is_valid as nhs_number_is_valid


def format_nhs_number(value: str) -> str:
    digits = "".join(ch for ch in value if ch in "0123456789")
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else value


def normalise_nhs_number(value: str) -> str:
    """Strip spaces and dashes; raise a ValidationError a clinician understands if invalid."""
    digits = "".join(ch for ch in str(value) if ch not in " -")
    if not (digits.isascii() and digits.isdigit()) or len(digits) != 10:
        raise ValidationError(f"NHS number {value!s} must be 10 digits.", code="nhs_number_format")
    if not nhs_number_is_valid(digits):
        raise ValidationError(
            f"NHS number {format_nhs_number(digits)} fails the check digit.",
            code="nhs_number_check_digit",
        )
    return digits


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Not known"


class Fitzpatrick(models.TextChoices):
    I = "I", "I — always burns, never tans"  # noqa: E741
    II = "II", "II — usually burns, tans minimally"
    III = "III", "III — sometimes burns, tans uniformly"
    IV = "IV", "IV — burns minimally, always tans"
    V = "V", "V — very rarely burns, tans very easily"
    VI = "VI", "VI — never burns"


class ContactPreference(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "Text message"
    LETTER = "letter", "Letter only"


class Patient(models.Model):
    """A person referred for a skin problem, identified by their NHS number."""

    nhs_number = models.CharField("NHS number", max_length=10, unique=True)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    fitzpatrick = models.CharField(
        "Fitzpatrick skin type", max_length=3, choices=Fitzpatrick.choices, blank=True
    )
    email = models.EmailField(blank=True)
    mobile = models.CharField(max_length=20, blank=True)
    contact_preference = models.CharField(
        max_length=10, choices=ContactPreference.choices, default=ContactPreference.EMAIL
    )
    registered_practice = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="registered_patients"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["family_name", "given_name"]

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def formatted_nhs_number(self) -> str:
        return format_nhs_number(self.nhs_number)

    def clean(self) -> None:
        self.nhs_number = normalise_nhs_number(self.nhs_number)
        if self.date_of_birth and self.date_of_birth > date.today():
            raise ValidationError({"date_of_birth": "Date of birth cannot be in the future."})
        if self.contact_preference == ContactPreference.EMAIL and not self.email:
            raise ValidationError(
                {"email": "Add an email address or choose another way to contact the patient."}
            )
        if self.contact_preference == ContactPreference.SMS and not self.mobile:
            raise ValidationError(
                {"mobile": "Add a mobile number or choose another way to contact the patient."}
            )

    def age_on(self, day: date) -> int:
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))

    def consent_for(self, scope: str) -> bool:
        """The patient's current answer for a consent scope (the latest record wins)."""
        latest = self.consents.filter(scope=scope).order_by("-recorded_at", "-id").first()  # type: ignore[attr-defined]
        return bool(latest and latest.granted)


class ConsentScope(models.TextChoices):
    DIRECT_CARE = "direct_care", "Direct care"
    TEACHING = "teaching", "Teaching"
    RESEARCH = "research", "Research"


class Consent(models.Model):
    """One recorded consent decision (given or withdrawn) for one scope; never edited."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consents")
    scope = models.CharField(max_length=20, choices=ConsentScope.choices)
    granted = models.BooleanField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["patient", "scope", "recorded_at"])]

    def __str__(self) -> str:
        return f"{self.get_scope_display()}: {'given' if self.granted else 'withdrawn'}"
