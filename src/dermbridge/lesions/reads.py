"""Every read of a patient's lesions, audited here (pages and API modules never write the audit
trail themselves: core/tests/test_boundaries.py)."""

from __future__ import annotations

from dataclasses import dataclass

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.lesions import access, comparison, services
from dermbridge.lesions.models import LesionEncounter, LinkChange, PatientLesion
from dermbridge.patients.models import Patient
from dermbridge.referrals.models import Lesion, Referral


def acting_service(user: User, patient_id: int) -> int | None:
    """The service on whose behalf `user` reads this patient's lesions (for the audit trail):
    theirs that was sent the patient's most recent referral."""
    return (
        Referral.objects.filter(
            pk__in=access.visible_referral_ids(user, patient_id),
            service_id__in=access.reviewing_service_ids(user),
        )
        .order_by("-created_at")
        .values_list("service_id", flat=True)
        .first()
    )


@dataclass
class Tracked:
    number: int
    lesion: PatientLesion
    encounters: list[LesionEncounter]


@dataclass
class Overview:
    tracked: list[Tracked]
    waiting: list[Lesion]
    history: list[LinkChange]


def patient_overview(user: User, patient: Patient) -> Overview:
    """The patient's lesions with the visits `user` may see, the lesions waiting to be linked,
    and every link change of those visits. Audited ("lesion.patient_view")."""
    tracked = []
    for number, pl in enumerate(services.patient_lesions(patient.pk), start=1):
        encounters = services.encounters_visible(pl, user)
        if encounters:
            tracked.append(Tracked(number, pl, encounters))
    waiting = services.unlinked_lesions(patient.pk, user)
    history = services.link_history([e.lesion_id for t in tracked for e in t.encounters])
    record(
        user,
        "lesion.patient_view",
        patient,
        organisation_id=acting_service(user, patient.pk),
        detail={"lesions": [t.lesion.uid for t in tracked], "unlinked": len(waiting)},
    )
    return Overview(tracked, waiting, history)


def lesion_visits(user: User, patient_lesion: PatientLesion) -> list[comparison.Visit]:
    """The lesion's visits `user` may see, measured. Audited ("lesion.compare_view", naming the
    referrals shown); each photo read is an "image.view" as anywhere."""
    visits = comparison.visits(patient_lesion, user=user)
    record(
        user,
        "lesion.compare_view",
        patient_lesion,
        organisation_id=acting_service(user, patient_lesion.patient_id),
        detail={"referrals": [v.encounter.lesion.referral.reference for v in visits]},
    )
    return visits


def api_patient_lesions(
    user: User, patient: Patient
) -> tuple[list[PatientLesion], dict[int, list[LesionEncounter]]]:
    """The patient's lesions with at least one visit `user` may see, and those visits.
    Audited ("lesion.api_list")."""
    lesions = list(services.patient_lesions(patient.pk))
    visible = {pl.pk: services.encounters_visible(pl, user) for pl in lesions}
    kept = [pl for pl in lesions if visible[pl.pk]]
    record(
        user,
        "lesion.api_list",
        patient,
        organisation_id=acting_service(user, patient.pk),
        detail={"lesions": [pl.uid for pl in kept]},
    )
    return kept, visible


def api_lesion(user: User, patient_lesion: PatientLesion) -> list[LesionEncounter] | None:
    """The lesion's visits `user` may see (None: none, so not theirs to read). Audited
    ("lesion.api_view") when shown."""
    encounters = services.encounters_visible(patient_lesion, user)
    if not encounters:
        return None
    record(
        user,
        "lesion.api_view",
        patient_lesion,
        organisation_id=acting_service(user, patient_lesion.patient_id),
    )
    return encounters
