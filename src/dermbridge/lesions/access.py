"""Who may see and link a patient's lesions.

A patient's lesions are a clinical record across referrals: they are read and linked by the
dermatologists of a service that has been sent (not a draft of) a referral for that patient.
Everyone else (the GP practice, the imaging hub, the service's administrators, another
service) is answered 404, recorded as a refusal, so that nothing about the patient leaks.

Within what they may see, each encounter (a referral's lesion) is shown only when its referral
is visible to the user (`Referral.visible_to`): a dermatologist at another service never sees
this service's photos through a shared lesion, and the reverse.
"""

from __future__ import annotations

from django.db.models import QuerySet

from dermbridge.accounts.models import Role, User
from dermbridge.patients.models import Patient
from dermbridge.referrals.models import Lesion, Referral, State


def reviewing_service_ids(user: User) -> set[int]:
    if not user.is_authenticated:
        return set()
    return set(user.organisation_ids(Role.DERMATOLOGIST))


def patients_for_lesions(user: User) -> QuerySet[Patient]:
    """Patients whose lesions `user` may see: a dermatologist's services' patients."""
    services = reviewing_service_ids(user)
    if not services:
        return Patient.objects.none()
    sent = Referral.objects.filter(service_id__in=services).exclude(state=State.DRAFT)
    return Patient.objects.filter(pk__in=sent.values("patient_id"))


def may_see_patient(user: User, patient_id: int) -> bool:
    return patients_for_lesions(user).filter(pk=patient_id).exists()


def may_link(user: User, lesion: Lesion) -> bool:
    """A dermatologist of the service the lesion's referral was sent to."""
    referral = lesion.referral
    return referral.state != State.DRAFT and referral.service_id in reviewing_service_ids(user)


def visible_referral_ids(user: User, patient_id: int) -> set[int]:
    return set(
        Referral.objects.visible_to(user)
        .filter(patient_id=patient_id)
        .exclude(state=State.DRAFT)
        .values_list("pk", flat=True)
    )


def may_see_lesion(user: User, patient_id: int, referral_ids: set[int]) -> bool:
    """A patient lesion (shown in the referrals `referral_ids`) is the user's to open when they
    may see the patient and at least one of those referrals: a lesion seen only by another
    service is not theirs."""
    return may_see_patient(user, patient_id) and bool(
        referral_ids & visible_referral_ids(user, patient_id)
    )
