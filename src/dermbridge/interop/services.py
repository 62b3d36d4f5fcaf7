"""Handing referrals on in NHS standards: FHIR bundles, the e-RS pack, DICOM, a PACS.

Each function checks who may see the referral, reads through the owning apps' services
(images through ``imaging.services.read_derivative``, which audits every image read) and
writes one audit event for the export itself. Mapping is in ``fhir``, ``ers`` and ``dicom``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dermbridge.audit.services import latest_event, record
from dermbridge.core.errors import (
    ExternalSystemFailed,
    InvalidReferral,
    NotConfigured,
    NotFound,
)
from dermbridge.core.queue import enqueue_atomic
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.imaging.services import read_derivative
from dermbridge.interop import dicom, fhir
from dermbridge.interop.pacs import PacsError, PacsTarget, c_store, stow_rs
from dermbridge.lesions.models import LesionEncounter
from dermbridge.referrals import permissions
from dermbridge.referrals.models import Lesion, Referral, State
from dermbridge.referrals.services import acting_org_id

if TYPE_CHECKING:
    from dermbridge.accounts.models import User

FORMATS = ("fhir", "ers", "dicom")


def find_referral(reference: str, *, user: User | None) -> Referral:
    """The referral with this reference, if `user` may see it (None: the operator's console)."""
    reference = reference.strip().upper()
    qs = Referral.objects.all() if user is None else Referral.objects.visible_to(user)
    referral = (
        qs.select_related(
            "patient__registered_practice", "referring_org", "referrer", "service", "imaging_hub"
        )
        .filter(reference=reference)
        .first()
    )
    if referral is None:
        raise NotFound(f"No referral {reference or '(blank)'} that you can see.")
    return referral


def audit_event(user: User | None, action: str, referral: Referral, **detail: Any) -> None:
    """One audit event about a referral, on behalf of the organisation the user acts for."""
    record(user, action, referral, organisation_id=acting_org_id(user, referral), detail=detail)


def ready_images(referral: Referral) -> list[LesionImage]:
    return list(
        LesionImage.objects.filter(lesion__referral=referral, status=ImageStatus.READY)
        .select_related("lesion")
        .order_by("lesion__number", "uploaded_at", "id")
    )


def referral_record(referral: Referral, *, user: User | None) -> fhir.ReferralRecord:
    """Load everything the mappings need; each image read is audited by the imaging app."""
    from dermbridge.interop.fhir.body_structure import patient_lesions_of
    from dermbridge.patients.models import Consent
    from dermbridge.referrals.models import HistologyResult, LesionOutcome
    from dermbridge.triage.services import assessments_for

    images = []
    for image in ready_images(referral):
        data, media_type = read_derivative(image, "ers", user=user)  # type: ignore[arg-type]
        images.append((image, data, media_type))
    latest: dict[str, Consent] = {}
    for consent in Consent.objects.filter(patient=referral.patient).order_by("recorded_at", "id"):
        latest[consent.scope] = consent
    return fhir.ReferralRecord(
        referral=referral,
        lesions=list(referral.lesions.all()),
        images=images,
        consents=list(latest.values()),
        assessments=assessments_for(referral),
        messages=list(referral.messages.select_related("author", "organisation")),
        outcome=getattr(referral, "outcome", None),
        lesion_outcomes=list(
            LesionOutcome.objects.filter(lesion__referral=referral)
            .select_related("lesion")
            .order_by("lesion__number")
        ),
        histology=list(
            HistologyResult.objects.filter(lesion__referral=referral).order_by("reported_on", "id")
        ),
        patient_lesion_uids={
            lesion_id: patient_lesion.uid
            for lesion_id, patient_lesion in patient_lesions_of(referral).items()
        },
    )


def fhir_bundle(referral: Referral, *, user: User | None) -> dict[str, Any]:
    """The referral as a FHIR R4 transaction Bundle (audited)."""
    bundle = fhir.referral_bundle(referral_record(referral, user=user))
    audit_event(user, "interop.fhir_bundle", referral, entries=len(bundle.get("entry", [])))
    return bundle


# ---------------------------------------------------------------- DICOM


def study_context(referral: Referral) -> dicom.StudyContext:
    patient = referral.patient
    return dicom.StudyContext(
        reference=referral.reference,
        nhs_number=patient.nhs_number,
        family_name=patient.family_name,
        given_name=patient.given_name,
        birth_date=patient.date_of_birth.strftime("%Y%m%d"),
        sex=dicom.sex_code(patient.sex),
        referrer_name=f"{referral.referrer.last_name}^{referral.referrer.first_name}",
        institution=referral.referring_org.name,
        study_datetime=timezone.localtime(referral.submitted_at or referral.created_at),
        description=f"Teledermatology {referral.get_kind_display()}",
    )


def _lesion_tracking(lesion: Lesion) -> dict[str, str]:
    """The patient's lesion this referral lesion shows, for the DICOM Tracking attributes."""
    encounter = (
        LesionEncounter.objects.select_related("patient_lesion").filter(lesion=lesion).first()
    )
    if encounter is None:
        return {}
    tracked = encounter.patient_lesion
    return {
        "lesion_uid": tracked.uid,
        "lesion_tracking_id": f"{tracked.label}, first seen {tracked.first_seen:%Y-%m-%d}",
    }


def dicom_objects(referral: Referral, *, user: User | None) -> list[tuple[LesionImage, Any]]:
    """Each ready image of the referral as a DICOM dataset, from its full-resolution master."""
    study = study_context(referral)
    out = []
    for image in ready_images(referral):
        data, _ = read_derivative(image, "master", user=user)  # type: ignore[arg-type]
        lesion = image.lesion
        context = dicom.ImageContext(
            key=str(image.pk),
            image_type=image.image_type,
            dermoscopy_mode=image.dermoscopy_mode,
            lesion_number=lesion.number,
            site_code=lesion.body_site_code,
            site_label=lesion.body_site_label,
            laterality=lesion.laterality,
            acquired=timezone.localtime(image.captured_at) if image.captured_at else None,
            device_model=image.device_model,
            **_lesion_tracking(lesion),
        )
        out.append((image, dicom.lesion_image_dataset(study, context, data)))
    return out


# ---------------------------------------------------------------- exports to files


def export_referral(
    reference: str, *, fmt: str, out_dir: Path, user: User | None = None
) -> list[Path]:
    """Write the referral in `fmt` ('fhir', 'ers' or 'dicom') into `out_dir`; audited.

    Bad input (unknown format, unknown referral, a draft) raises before anything is written.
    """
    if fmt not in FORMATS:
        raise InvalidReferral(f"Export format must be one of {', '.join(FORMATS)} (got {fmt!r}).")
    referral = find_referral(reference, user=user)
    if referral.state == State.DRAFT:
        raise InvalidReferral(
            f"Referral {referral.reference} is a draft: send it before exporting."
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidReferral(f"{out_dir} exists and is not a folder.")
    written: list[Path] = []
    with transaction.atomic():
        if fmt == "fhir":
            bundle = fhir.referral_bundle(referral_record(referral, user=user))
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{referral.reference}.fhir.json"
            path.write_text(json.dumps(bundle, indent=2))
            written.append(path)
        elif fmt == "ers":
            from dermbridge.interop import ers

            record_ = referral_record(referral, user=user)
            thumbs = {
                image.pk: read_derivative(image, "thumbnail", user=user)[0]  # type: ignore[arg-type]
                for image, _, _ in record_.images
            }
            try:
                written = ers.write_pack(record_, out_dir, thumbs)
            except ers.AttachmentTooLarge as exc:
                raise InvalidReferral(str(exc)) from None
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            for image, ds in dicom_objects(referral, user=user):
                path = (
                    out_dir
                    / f"{referral.reference}-L{image.lesion.number}-{image.image_type}-{image.pk}.dcm"
                )
                path.write_bytes(dicom.to_bytes(ds))
                written.append(path)
        audit_event(user, f"interop.export_{fmt}", referral, files=[p.name for p in written])
    return written


# ---------------------------------------------------------------- PACS


def pacs_target() -> PacsTarget:
    return PacsTarget(
        host=settings.PACS_HOST,
        port=settings.PACS_PORT,
        called_ae=settings.PACS_AE_TITLE,
        calling_ae=settings.PACS_CALLING_AE_TITLE,
        stow_url=settings.PACS_STOW_URL,
        timeout=settings.PACS_TIMEOUT_SECONDS,
    )


@dataclass(frozen=True)
class PacsResult:
    images: int
    c_store: bool
    stow_rs: bool
    study_instance_uid: str


def send_to_pacs(
    referral: Referral, user: User | None, *, target: PacsTarget | None = None
) -> PacsResult:
    """Send every ready image of a referral to the configured PACS (C-STORE and/or STOW-RS).

    The dermatology service and the referring practice may send; the send is audited whether
    it succeeds or fails, so the record shows every attempt.
    """
    target = target or pacs_target()
    if not target.configured:
        raise NotConfigured(
            "No PACS is configured: set DERMBRIDGE_PACS_HOST or DERMBRIDGE_PACS_STOW_URL."
        )
    if user is not None and not Referral.objects.visible_to(user).filter(pk=referral.pk).exists():
        raise NotFound("No such referral that you can see.")
    if referral.state == State.DRAFT:
        raise InvalidReferral(
            f"Referral {referral.reference} is a draft: send it before archiving images."
        )
    objects = dicom_objects(referral, user=user)
    if not objects:
        raise InvalidReferral(f"Referral {referral.reference} has no processed images to send.")
    datasets = [ds for _, ds in objects]
    try:
        if target.host:
            c_store(target, datasets)
        if target.stow_url:
            stow_rs(target, [dicom.to_bytes(ds) for ds in datasets])
    except PacsError as exc:
        audit_event(user, "interop.pacs_send_failed", referral, problem=str(exc)[:300])
        raise ExternalSystemFailed(str(exc)) from None
    study_uid = str(datasets[0].StudyInstanceUID)
    audit_event(
        user,
        "interop.pacs_send",
        referral,
        images=len(datasets),
        study=study_uid,
        c_store=bool(target.host),
        stow_rs=bool(target.stow_url),
    )
    return PacsResult(len(datasets), bool(target.host), bool(target.stow_url), study_uid)


# ---------------------------------------------------------------- PACS from the UI


# What the referral page says about the last PACS send, by the audit event that recorded it.
PACS_EVENTS = {
    "interop.pacs_send_queued": "Queued for sending to the PACS",
    "interop.pacs_send": "Sent to the PACS",
    "interop.pacs_send_failed": "Sending to the PACS failed",
}


@dataclass(frozen=True)
class PacsStatus:
    configured: bool
    last: str = ""
    at: datetime | None = None
    problem: str = ""


def pacs_status(referral: Referral) -> PacsStatus:
    """Whether a PACS is configured and what happened at the referral's last send (audit trail)."""
    configured = pacs_target().configured
    event = latest_event(referral, tuple(PACS_EVENTS))
    if event is None:
        return PacsStatus(configured)
    return PacsStatus(
        configured, PACS_EVENTS[event.action], event.at, str(event.detail.get("problem", ""))
    )


def queue_send_to_pacs(referral: Referral, *, user: User) -> None:
    """Check now what can be checked (a PACS configured, a sent referral with images) and send
    in the background: a PACS may take minutes, a page must not."""
    if not pacs_target().configured:
        raise NotConfigured(
            "No PACS is configured: set DERMBRIDGE_PACS_HOST or DERMBRIDGE_PACS_STOW_URL."
        )
    if not Referral.objects.visible_to(user).filter(pk=referral.pk).exists():
        raise NotFound("No such referral that you can see.")
    # Who may: the rule table (the page shows the button by the same rule), whichever door.
    permissions.check_role(user, "send_to_pacs", referral)
    if referral.state == State.DRAFT:
        raise InvalidReferral(
            f"Referral {referral.reference} is a draft: send it before archiving images."
        )
    if not ready_images(referral):
        raise InvalidReferral(f"Referral {referral.reference} has no processed images to send.")
    from dermbridge.interop.tasks import send_referral_to_pacs

    audit_event(user, "interop.pacs_send_queued", referral)
    enqueue_atomic(send_referral_to_pacs, referral.pk, user.pk)  # commits with the request
