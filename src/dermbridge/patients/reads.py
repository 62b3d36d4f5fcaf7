"""Reads of patient records, each written to the audit trail (one layer audits reads).

The API and pages call these instead of querying and auditing themselves; a lookup that
finds nothing returns None and the caller answers 404 (recording the refusal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db.models import Prefetch, QuerySet

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.patients.models import Consent, Patient
from dermbridge.patients.services import patients_visible_to

# Picks the page of a list to show (the API's paginator); None when there is none.
Paginate = Callable[[QuerySet[Patient]], Sequence[Patient] | None]


def with_details(queryset: QuerySet[Patient]) -> QuerySet[Patient]:
    """Patients with their practice and consent decisions, newest first, loaded at once."""
    consents = Consent.objects.select_related("recorded_by").order_by("-recorded_at", "-id")
    return queryset.select_related("registered_practice").prefetch_related(
        Prefetch("consents", queryset=consents)
    )


def visible_patient(user: User, patient_id: int) -> Patient | None:
    """The patient with its details if the user may see it (not audited: no read yet)."""
    return with_details(patients_visible_to(user)).filter(pk=patient_id).first()


def view_patient(user: User, patient_id: int) -> Patient | None:
    """The patient with its details if the user may see it; the read is audited."""
    patient = visible_patient(user, patient_id)
    if patient is not None:
        record(user, "patient.view", patient)
    return patient


def list_patients(user: User, paginate: Paginate) -> list[Patient]:
    """A page of the patients the user may see, by name; the ids listed are audited."""
    queryset = (
        patients_visible_to(user)
        .select_related("registered_practice")
        .order_by("family_name", "given_name", "id")
    )
    page = list(paginate(queryset) or [])
    record(
        user,
        "patient.list",
        object_type="patients.patient",
        detail={"ids": [p.pk for p in page]},
    )
    return page
