"""Registering patients and recording their consent decisions."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from dermbridge.accounts.models import Organisation, Role, User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidPatient, NotPermitted
from dermbridge.patients.models import Consent, ConsentScope, Patient, normalise_nhs_number

PATIENT_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "fitzpatrick",
    "email",
    "mobile",
    "contact_preference",
)


def patients_visible_to(user: User) -> QuerySet[Patient]:
    """A practice sees its registered patients and anyone it has referred; a service, its referrals'."""
    from dermbridge.referrals.models import Referral

    if not user.is_authenticated:
        return Patient.objects.none()
    practice_ids = user.organisation_ids(Role.REFERRER, Role.PHOTOGRAPHER)
    referral_patients = Referral.objects.visible_to(user).values("patient_id")
    return Patient.objects.filter(
        Q(registered_practice_id__in=practice_ids) | Q(pk__in=referral_patients)
    )


def _validation_to_invalid(exc: ValidationError) -> InvalidPatient:
    if hasattr(exc, "error_dict"):
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        first = next(iter(fields.values()))[0]
        return InvalidPatient(first, field_errors=fields)
    return InvalidPatient(" ".join(exc.messages))


@transaction.atomic
def register_patient(
    *, user: User, practice: Organisation, nhs_number: str, **data: Any
) -> Patient:
    """Register a patient at a practice, or return the existing record for that NHS number."""
    if not (
        user.has_role(Role.REFERRER, practice.pk) or user.has_role(Role.PHOTOGRAPHER, practice.pk)
    ):
        raise NotPermitted(f"You do not work for {practice.name}.")
    try:
        nhs = normalise_nhs_number(nhs_number)
    except ValidationError as exc:
        raise InvalidPatient(exc.messages[0], field_errors={"nhs_number": exc.messages}) from None
    existing = Patient.objects.filter(nhs_number=nhs).first()
    if existing is not None:
        _check_same_person(existing, data)
        record(user, "patient.lookup", existing, organisation_id=practice.pk)
        return existing
    unknown = set(data) - set(PATIENT_FIELDS)
    if unknown:
        raise InvalidPatient(f"Unknown patient fields: {', '.join(sorted(unknown))}.")
    patient = Patient(nhs_number=nhs, registered_practice=practice, **data)
    try:
        patient.full_clean()
        patient.save()
    except ValidationError as exc:
        raise _validation_to_invalid(exc) from None
    except IntegrityError:
        raise InvalidPatient(
            f"NHS number {patient.formatted_nhs_number} is already registered."
        ) from None
    record(user, "patient.create", patient, organisation_id=practice.pk)
    return patient


def _check_same_person(existing: Patient, data: dict[str, Any]) -> None:
    """Refuse to attach a referral to a record whose date of birth disagrees: a wrong NHS number."""
    dob = data.get("date_of_birth")
    if isinstance(dob, str):
        dob = date.fromisoformat(dob)
    if dob and dob != existing.date_of_birth:
        raise InvalidPatient(
            f"NHS number {existing.formatted_nhs_number} belongs to a patient with a different "
            "date of birth. Check the NHS number.",
            field_errors={"nhs_number": ["Date of birth does not match the NHS number."]},
        )


@transaction.atomic
def record_consent(
    *, user: User, patient: Patient, scope: str, granted: bool, note: str = ""
) -> Consent:
    """Append a consent decision; a withdrawal takes effect from now for that scope."""
    if scope not in ConsentScope.values:
        raise InvalidPatient(f"Consent scope must be one of {', '.join(ConsentScope.values)}.")
    if not patients_visible_to(user).filter(pk=patient.pk).exists():
        raise NotPermitted("You cannot record consent for this patient.")
    consent = Consent.objects.create(
        patient=patient, scope=scope, granted=granted, recorded_by=user, note=note[:200]
    )
    record(user, "consent.record", consent, detail={"scope": scope, "granted": granted})
    return consent
