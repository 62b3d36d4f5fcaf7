"""Drafting a referral: the patient, question, history and lesions, before it is sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from dermbridge.accounts.models import Organisation, OrganisationKind, Role, User
from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidReferral, NotPermitted
from dermbridge.patients.models import ConsentScope, Patient
from dermbridge.referrals import permissions, signals
from dermbridge.referrals.models import (
    ClinicalHistory,
    Laterality,
    Lesion,
    Referral,
    ReferralKind,
    State,
    StateChange,
)
from dermbridge.referrals.terminology import BODY_SITES
from dermbridge.referrals.transitions import acting_org_id, lock_referral

HISTORY_FIELDS = [
    f.name for f in ClinicalHistory._meta.get_fields() if f.name not in {"id", "referral"}
]
MAX_LESIONS = 10


def _clean_history(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(data) - set(HISTORY_FIELDS)
    if unknown:
        raise InvalidReferral(f"Unknown clinical history fields: {', '.join(sorted(unknown))}.")
    history = ClinicalHistory(**data)
    try:
        history.clean_fields(exclude=["referral"])
    except ValidationError as exc:
        raise InvalidReferral(
            "The clinical history has invalid answers.",
            field_errors={f"history.{k}": [str(m) for m in v] for k, v in exc.message_dict.items()},
        ) from None
    return dict(data)


def _clean_lesion(data: Mapping[str, Any], number: int) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    code = str(data.get("body_site_code", ""))
    if code not in BODY_SITES:
        errors["body_site_code"] = [f"Choose a body site from the list (got {code or 'nothing'})."]
    laterality = data.get("laterality", "") or ""
    if laterality and laterality not in Laterality.values:
        errors["laterality"] = [f"Laterality must be one of {', '.join(Laterality.values)}."]
    size = data.get("size_mm")
    if size not in (None, ""):
        try:
            size = Decimal(str(size))
        except InvalidOperation:
            errors["size_mm"] = ["Size must be a number of millimetres."]
        else:
            if not Decimal("0.1") <= size <= Decimal("500"):
                errors["size_mm"] = ["Size must be between 0.1 and 500 mm."]
    else:
        size = None
    if errors:
        raise InvalidReferral(
            f"Lesion {number} is not complete.",
            field_errors={f"lesions[{number}].{k}": v for k, v in errors.items()},
        )
    return {
        "number": number,
        "body_site_code": code,
        "laterality": laterality,
        "size_mm": size,
        "description": str(data.get("description", ""))[:2000],
        "pigmented": bool(data.get("pigmented", False)),
    }


def _check_referring_org(user: User, referring_org: Organisation) -> None:
    if referring_org.kind not in (OrganisationKind.GP_PRACTICE, OrganisationKind.IMAGING_HUB):
        raise InvalidReferral("Referrals are made by a GP practice or an imaging hub.")
    if not (
        user.has_role(Role.REFERRER, referring_org.pk)
        or user.has_role(Role.PHOTOGRAPHER, referring_org.pk)
    ):
        raise NotPermitted(f"You do not refer on behalf of {referring_org.name}.")


@transaction.atomic
def create_referral(
    *,
    user: User,
    patient: Patient,
    kind: str,
    service: Organisation,
    referring_org: Organisation,
    clinical_question: str = "",
    history: Mapping[str, Any] | None = None,
    lesions: Iterable[Mapping[str, Any]] = (),
    imaging_hub: Organisation | None = None,
) -> Referral:
    """Start a draft referral for a patient, with its history and lesions, all or nothing."""
    _check_referring_org(user, referring_org)
    if kind not in ReferralKind.values:
        raise InvalidReferral(f"Referral kind must be one of {', '.join(ReferralKind.values)}.")
    if not service.is_service:
        raise InvalidReferral(f"{service.name} is not a dermatology service.")
    if imaging_hub is not None and imaging_hub.kind != OrganisationKind.IMAGING_HUB:
        raise InvalidReferral(f"{imaging_hub.name} is not an imaging hub.")
    lesion_rows = [_clean_lesion(data, i) for i, data in enumerate(lesions, start=1)]
    if len(lesion_rows) > MAX_LESIONS:
        raise InvalidReferral(f"A referral can describe at most {MAX_LESIONS} lesions.")
    history_data = _clean_history(history or {})
    referral = Referral.objects.create(
        kind=kind,
        patient=patient,
        referring_org=referring_org,
        referrer=user,
        service=service,
        imaging_hub=imaging_hub,
        clinical_question=clinical_question.strip(),
    )
    ClinicalHistory.objects.create(referral=referral, **history_data)
    Lesion.objects.bulk_create([Lesion(referral=referral, **row) for row in lesion_rows])
    StateChange.objects.create(
        referral=referral, action="create", from_state=State.DRAFT, to_state=State.DRAFT, actor=user
    )
    record(user, "referral.create", referral, organisation_id=referring_org.pk)
    return referral


@transaction.atomic
def start_referral(
    *,
    user: User,
    referring_org: Organisation,
    patient_details: Mapping[str, Any],
    consent_direct_care: bool,
    **referral: Any,
) -> Referral:
    """The referrer's "new referral" form in one step: find or register the patient by NHS
    number, record their consent for direct care, and start the draft. All or nothing: a
    mistake anywhere saves no patient, consent or draft."""
    from dermbridge.patients.services import record_consent, register_patient

    details = dict(patient_details)
    nhs_number = str(details.pop("nhs_number", ""))
    patient = register_patient(user=user, practice=referring_org, nhs_number=nhs_number, **details)
    if consent_direct_care and not patient.consent_for(ConsentScope.DIRECT_CARE):
        record_consent(
            user=user,
            patient=patient,
            scope=ConsentScope.DIRECT_CARE,
            granted=True,
            note="Recorded with a new referral",
        )
    return create_referral(user=user, patient=patient, referring_org=referring_org, **referral)


@transaction.atomic
def update_draft(
    referral: Referral,
    *,
    user: User,
    clinical_question: str | None = None,
    kind: str | None = None,
    history: Mapping[str, Any] | None = None,
) -> Referral:
    """Change a draft's question, pathway or history: each part is the referrer's (see
    `permissions`); after a request for more information only the history can change."""
    referral = lock_referral(referral)
    if kind is not None:
        permissions.check(user, "edit_pathway", referral)
    if clinical_question is not None:
        permissions.check(user, "edit_question", referral)
    if history is not None or (kind is None and clinical_question is None):
        permissions.check(user, "edit_history", referral)
    if kind is not None:
        if kind not in ReferralKind.values:
            raise InvalidReferral(
                f"Referral kind must be one of {', '.join(ReferralKind.values)}.",
                field_errors={"kind": ["Choose a pathway from the list."]},
            )
        referral.kind = kind
    if clinical_question is not None:
        referral.clinical_question = clinical_question.strip()
    if history is not None:
        cleaned = _clean_history(history)
        ClinicalHistory.objects.filter(referral=referral).update(**cleaned)
    referral.save()
    record(user, "referral.update", referral, organisation_id=acting_org_id(user, referral))
    return referral


@transaction.atomic
def add_lesion(referral: Referral, *, user: User, **data: Any) -> Lesion:
    referral = lock_referral(referral)
    permissions.check(user, "add_lesion", referral)
    count = referral.lesions.count()
    if count >= MAX_LESIONS:
        raise InvalidReferral(f"A referral can describe at most {MAX_LESIONS} lesions.")
    lesion = Lesion.objects.create(referral=referral, **_clean_lesion(data, count + 1))
    record(user, "lesion.create", lesion, organisation_id=acting_org_id(user, referral))
    return lesion


def _locked_lesion(lesion: Lesion) -> tuple[Referral, Lesion]:
    referral = lock_referral(lesion.referral)
    return referral, Lesion.objects.select_for_update().get(pk=lesion.pk)


@transaction.atomic
def update_lesion(lesion: Lesion, *, user: User, **data: Any) -> Lesion:
    """Correct a lesion's site, side, size or description while the referral is a draft."""
    referral, lesion = _locked_lesion(lesion)
    permissions.check(user, "edit_lesion", referral)
    cleaned = _clean_lesion(data, lesion.number)
    changed = sorted(k for k, v in cleaned.items() if getattr(lesion, k) != v)
    for key, value in cleaned.items():
        setattr(lesion, key, value)
    lesion.save()
    record(
        user,
        "lesion.update",
        lesion,
        organisation_id=acting_org_id(user, referral),
        detail={"changed": changed},
    )
    return lesion


@transaction.atomic
def remove_lesion(lesion: Lesion, *, user: User) -> None:
    """Remove a lesion (and its photos) from a draft; the lesions after it are renumbered so
    the draft reads lesion 1, 2, 3... again."""
    referral, lesion = _locked_lesion(lesion)
    permissions.check(user, "remove_lesion", referral)
    # Its photos go first, with their blobs (imaging receives this: referrals/signals.py).
    signals.lesion_removing.send(sender=Lesion, lesion=lesion, user=user)
    number = lesion.number
    record(
        user,
        "lesion.delete",
        lesion,
        organisation_id=acting_org_id(user, referral),
        detail={"number": number, "body_site_code": lesion.body_site_code},
    )
    lesion.delete()
    for later in Lesion.objects.filter(referral=referral, number__gt=number).order_by("number"):
        later.number -= 1
        later.save(update_fields=["number"])


@transaction.atomic
def delete_draft(referral: Referral, *, user: User) -> None:
    referral = lock_referral(referral)
    permissions.check(user, "delete_draft", referral)
    signals.draft_discarding.send(sender=Referral, referral=referral, user=user)
    record(user, "referral.delete_draft", referral, organisation_id=referral.referring_org_id)
    referral.delete()


@transaction.atomic
def record_direct_care_consent(referral: Referral, *, user: User, note: str = "") -> bool:
    """Record the patient's consent for direct care from a draft (or when more information is
    asked for). The referrer or the photographer may: see `permissions`. Returns False if the
    consent was already on record (nothing is written twice)."""
    from dermbridge.patients.services import record_consent

    referral = lock_referral(referral)
    permissions.check(user, "record_consent", referral)
    if referral.patient.consent_for(ConsentScope.DIRECT_CARE):
        return False
    record_consent(
        user=user,
        patient=referral.patient,
        scope=ConsentScope.DIRECT_CARE,
        granted=True,
        note=note or f"Recorded on referral {referral.reference}",
    )
    return True


@transaction.atomic
def save_draft(
    referral: Referral,
    *,
    user: User,
    clinical_question: str | None = None,
    kind: str | None = None,
    history: Mapping[str, Any] | None = None,
    consent_direct_care: bool = False,
    new_lesion: Mapping[str, Any] | None = None,
) -> Lesion | None:
    """Everything on the draft page in one step, all or nothing: whichever button was pressed,
    what was typed is saved first (issue #9, "nothing lost"). Each part is authorised by its
    own rule; a part the user may not change refuses the whole save."""
    if kind is not None or clinical_question is not None or history is not None:
        update_draft(
            referral, user=user, clinical_question=clinical_question, kind=kind, history=history
        )
    if consent_direct_care:
        record_direct_care_consent(referral, user=user)
    if new_lesion is not None:
        return add_lesion(referral, user=user, **new_lesion)
    return None
