"""Patient demographics looked up from the NHS number, so a referrer never retypes them.

In England the source is the Personal Demographics Service (PDS, the national FHIR API, reached
over HSCN with a smartcard-backed session). DermBridge talks to it through `DemographicsService`;
the implementation here, `LocalDirectory`, answers from the patients the organisation already
holds (Patient rows registered at the practice, or referred by it before). A PDS client would be
a second implementation of the same interface, chosen with DERMBRIDGE_DEMOGRAPHICS (a dotted
path to a class); nothing else changes. Every look-up is audited (who asked, for which patient).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.module_loading import import_string

from dermbridge.accounts.models import Organisation, User
from dermbridge.audit.services import record
from dermbridge.patients.models import (
    ContactPreference,
    Patient,
    format_nhs_number,
    normalise_nhs_number,
)


@dataclass(frozen=True)
class Demographics:
    """What the demographics service says about one person."""

    nhs_number: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex: str
    email: str = ""
    mobile: str = ""
    contact_preference: str = ContactPreference.LETTER
    source: str = "local"
    patient_id: int | None = None  # the local record, when there is one

    @property
    def formatted_nhs_number(self) -> str:
        return format_nhs_number(self.nhs_number)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def contact_text(self) -> str:
        """How the patient hears about their referral, in words."""
        if self.contact_preference == ContactPreference.SMS and self.mobile:
            return f"Text message to {self.mobile}"
        if self.contact_preference == ContactPreference.EMAIL and self.email:
            return f"Email to {self.email}"
        return "Letter to their home address"


class DemographicsService(Protocol):
    """Finds a person by NHS number for a practice; None when it does not know them."""

    def lookup(self, nhs_number: str, *, practice: Organisation) -> Demographics | None: ...


class LocalDirectory:
    """The patients the practice already holds: registered there, or referred by it before."""

    source = "local"

    def lookup(self, nhs_number: str, *, practice: Organisation) -> Demographics | None:
        patient = (
            Patient.objects.filter(nhs_number=nhs_number)
            .filter(Q(registered_practice=practice) | Q(referrals__referring_org=practice))
            .distinct()
            .first()
        )
        return None if patient is None else from_patient(patient, source=self.source)


def from_patient(patient: Patient, *, source: str = "local") -> Demographics:
    return Demographics(
        nhs_number=patient.nhs_number,
        given_name=patient.given_name,
        family_name=patient.family_name,
        date_of_birth=patient.date_of_birth,
        sex=patient.sex,
        email=patient.email,
        mobile=patient.mobile,
        contact_preference=patient.contact_preference,
        source=source,
        patient_id=patient.pk,
    )


def service() -> DemographicsService:
    path = getattr(settings, "DERMBRIDGE_DEMOGRAPHICS", "")
    return import_string(path)() if path else LocalDirectory()  # type: ignore[no-any-return]


def find(user: User, practice: Organisation, nhs_number: str) -> Demographics | None:
    """Look a person up for a referrer at `practice`; the NHS number must be valid (else a
    ValidationError naming it). Audited whether or not the person was found."""
    digits = normalise_nhs_number(nhs_number)
    found = service().lookup(digits, practice=practice)
    record(
        user,
        "patient.demographics_lookup",
        object_type="patients.patient",
        object_id=(found.patient_id or "") if found else "",
        organisation_id=practice.pk,
        detail={"found": found is not None, "source": getattr(found, "source", "")},
    )
    return found


def default_contact(email: str, mobile: str) -> str:
    """A sensible way to reach the patient from what was typed: email if given, else a text
    message to a mobile number, else a letter."""
    if email:
        return ContactPreference.EMAIL
    if mobile and mobile.replace(" ", "").lstrip("+").startswith(("07", "447")):
        return ContactPreference.SMS
    return ContactPreference.LETTER


__all__ = [
    "Demographics",
    "DemographicsService",
    "LocalDirectory",
    "ValidationError",
    "default_contact",
    "find",
    "from_patient",
    "service",
]
