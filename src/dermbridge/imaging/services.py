"""Accepting photos for a lesion, running them through the pipeline, and serving them safely."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from dermbridge.audit.services import batched, record
from dermbridge.core.errors import InvalidImage, NotPermitted, TransitionNotAllowed
from dermbridge.core.queue import enqueue_atomic
from dermbridge.imaging import blobrefs
from dermbridge.imaging.blobstore import SweepReport
from dermbridge.imaging.models import DermoscopyMode, ImageStatus, ImageType, LesionImage
from dermbridge.imaging.pipeline.intake import sniff_format
from dermbridge.imaging.pipeline.types import ImageRejected, PipelineConfig
from dermbridge.imaging.processing import process_lesion_image, requeue_stuck_images
from dermbridge.imaging.storage import blob_store
from dermbridge.referrals import permissions
from dermbridge.referrals.models import Lesion, Referral, ReferralKind, State

if TYPE_CHECKING:
    from dermbridge.accounts.models import Organisation, User

log = logging.getLogger(__name__)
EDITABLE_STATES = (State.DRAFT, State.MORE_INFO_REQUESTED)
MAX_IMAGES_PER_LESION = 12

# Default image set per lesion (BAD/PCDS 2013): an overview and a close-up for every lesion,
# and a dermoscopic image for pigmented lesions. A service can override per pathway.
DEFAULT_REQUIRED = {
    "all": [ImageType.OVERVIEW, ImageType.CLOSE_UP],
    "pigmented": [ImageType.OVERVIEW, ImageType.CLOSE_UP, ImageType.DERMOSCOPIC],
}


def pipeline_config(service: Organisation | None = None) -> PipelineConfig:
    blocking = frozenset(service.blocking_quality_checks) if service else frozenset()
    return PipelineConfig(max_bytes=settings.MAX_UPLOAD_BYTES, blocking_checks=blocking)


def required_types(service: Organisation, kind: str, pigmented: bool) -> list[str]:
    rules = (service.required_image_types or {}).get(kind) or DEFAULT_REQUIRED
    key = "pigmented" if pigmented and "pigmented" in rules else "all"
    return list(rules.get(key, []))


def lesion_image_set(lesion: Lesion, service: Organisation, kind: str) -> dict[str, object]:
    """What the lesion has and still needs, shown to the photographer before submission."""
    ready = [i for i in lesion.images.all() if i.status == ImageStatus.READY]
    present = {i.image_type for i in ready}
    needed = required_types(service, kind, lesion.pigmented)
    return {
        "required": needed,
        "missing": [t for t in needed if t not in present],
        "processing": sum(1 for i in lesion.images.all() if i.status == ImageStatus.PROCESSING),
        "failed": sum(1 for i in lesion.images.all() if i.status == ImageStatus.FAILED),
    }


def image_set_problems(referral: Referral, lesions: Iterable[Lesion]) -> list[str]:
    """Why the images stop submission: still processing, failed, blocked by quality, or missing."""
    problems = []
    labels = dict(ImageType.choices)
    for lesion in lesions:
        status = lesion_image_set(lesion, referral.service, referral.kind)
        if status["processing"]:
            problems.append(f"Lesion {lesion.number}: wait for images to finish processing.")
        if status["failed"]:
            problems.append(
                f"Lesion {lesion.number}: remove or replace the images that could not be used."
            )
        missing = status["missing"]
        assert isinstance(missing, list)
        if missing:
            names = ", ".join(labels[t].lower() for t in missing)
            problems.append(
                f"Lesion {lesion.number}: add {names} image{'s' if len(missing) > 1 else ''}."
            )
        for image in lesion.images.all():
            blocked = [
                c["message"] for c in image.quality.values() if c.get("blocking") and not c["ok"]
            ]
            if blocked:
                problems.append(f"Lesion {lesion.number}: retake image {image.pk}: {blocked[0]}")
        from dermbridge.imaging.quality_review import unacknowledged_warnings

        problems.extend(unacknowledged_warnings([lesion]))  # a warning is kept or retaken
    return problems


def _check_can_add_images(lesion: Lesion, user: User) -> Referral:
    referral = lesion.referral
    # Who first (referrals.permissions): a role that may never add photos is refused (403)
    # whatever the state.
    if not permissions.may_role(user, "add_photo", referral):
        raise NotPermitted("Only the referring practice or its imaging hub can add images.")
    if referral.state not in EDITABLE_STATES:
        raise TransitionNotAllowed(
            f"Referral {referral.reference} has been sent: images can only be added when the "
            "dermatologist asks for more information."
        )
    return referral


def _read_limited(fileobj: IO[bytes], limit: int) -> bytes:
    buf = BytesIO()
    while chunk := fileobj.read(1024 * 1024):
        buf.write(chunk)
        if buf.tell() > limit:
            raise InvalidImage(
                f"The file is larger than the {limit // (1024 * 1024)} MB upload limit."
            )
    data = buf.getvalue()
    if not data:
        raise InvalidImage("The file is empty.")
    return data


@transaction.atomic
def accept_upload(
    lesion: Lesion, *, user: User, fileobj: IO[bytes], image_type: str, dermoscopy_mode: str = ""
) -> LesionImage:
    """Store the upload encrypted and queue it for the pipeline; returns at once."""
    lesion = Lesion.objects.select_related("referral").select_for_update().get(pk=lesion.pk)
    referral = _check_can_add_images(lesion, user)
    if image_type not in ImageType.values:
        raise InvalidImage(f"Image type must be one of {', '.join(ImageType.values)}.")
    if dermoscopy_mode and dermoscopy_mode not in DermoscopyMode.values:
        raise InvalidImage(f"Dermoscopy mode must be one of {', '.join(DermoscopyMode.values)}.")
    if lesion.images.exclude(status=ImageStatus.FAILED).count() >= MAX_IMAGES_PER_LESION:
        raise InvalidImage(f"A lesion can have at most {MAX_IMAGES_PER_LESION} images.")
    data = _read_limited(fileobj, settings.MAX_UPLOAD_BYTES)
    try:
        # What the file is, from its first bytes: a PDF, a web page or a video is refused now,
        # with the reason, instead of being stored and failing a moment later (the photographer
        # would see "Uploaded" and then have to remove it by hand).
        sniff_format(data[:64])
    except ImageRejected as exc:
        raise InvalidImage(exc.reason, field_errors={"file": [exc.reason]}) from None
    store = blob_store()
    # Lock the address before the blob is written or found (put deduplicates), and hold it until
    # the row naming it commits: a concurrent delete of the same bytes cannot remove it meanwhile.
    blobrefs.lock_addresses([store.address_of(data)])
    address = store.put(data)
    image = LesionImage.objects.create(
        lesion=lesion,
        image_type=image_type,
        dermoscopy_mode=dermoscopy_mode,
        upload_address=address,
        upload_size=len(data),
        uploaded_by=user,
    )
    record(
        user,
        "image.upload",
        image,
        organisation_id=_org(user, referral),
        detail={"lesion": lesion.pk, "type": image_type, "bytes": len(data)},
    )
    blobrefs.sync_refs(image)
    from dermbridge.imaging.tasks import process_lesion_image

    # In the same transaction as the row (database task backend): no row without its task.
    enqueue_atomic(process_lesion_image, image.pk)
    return image


@transaction.atomic
def accept_uploads(
    lesion: Lesion,
    *,
    user: User,
    files: Iterable[IO[bytes]],
    image_type: str,
    dermoscopy_mode: str = "",
    accept_one: Callable[..., LesionImage] | None = None,
) -> list[LesionImage]:
    """Several photos of one type chosen together: all are accepted, or none (one bad file
    refuses the lot, so the photographer re-chooses a clean set). ``accept_one`` (same keyword
    arguments as ``accept_upload``) lets a caller route some files differently, e.g. DICOM."""
    accept = accept_one or accept_upload
    # The audit events are appended after the last blob is written: the chain's lock is never
    # held across a blob write (docs/adr/0008-audit-chain.md).
    with batched():
        images = [
            accept(
                lesion, user=user, fileobj=f, image_type=image_type, dermoscopy_mode=dermoscopy_mode
            )
            for f in files
        ]
    if not images:
        raise InvalidImage("Choose at least one photo to upload.")
    return images


def _org(user: User | None, referral: Referral) -> int | None:
    from dermbridge.referrals.services import acting_org_id

    return acting_org_id(user, referral)


def referenced_blob_addresses() -> set[str]:
    """Every blob address a row names: raw uploads awaiting the pipeline and all derivatives."""
    addresses: set[str] = set()
    rows = LesionImage.objects.values_list("upload_address", "derivatives")
    for upload, derivatives in rows.iterator(chunk_size=2000):
        if upload:
            addresses.add(upload)
        addresses.update(d["address"] for d in (derivatives or {}).values() if d.get("address"))
    return addresses


def sweep_blobs(*, grace_hours: float, dry_run: bool = False) -> SweepReport:
    """Remove blobs nothing refers to (see BlobStore.sweep), audited; the report of what went."""
    report = blob_store().sweep(
        referenced_blob_addresses,
        grace_seconds=grace_hours * 3600,
        dry_run=dry_run,
        delete_if_unreferenced=blobrefs.release,
    )
    if not dry_run:
        record(
            None,
            "blobs.sweep",
            object_type="imaging.blob",
            detail={
                "unreferenced": len(report.unreferenced),
                "stray_blobs": len(report.stray_blobs),
                "temporary": len(report.temporary),
                "kept_recent": report.kept_recent,
                "unreadable_keys": len(report.unreadable_keys),
                "grace_hours": grace_hours,
            },
        )
    return report


@transaction.atomic
def delete_image(image: LesionImage, *, user: User) -> None:
    """Remove an image from a draft. Images that informed a clinical decision are part of the record."""
    image = (
        LesionImage.objects.select_for_update().select_related("lesion__referral").get(pk=image.pk)
    )
    referral = _check_can_add_images(image.lesion, user)
    if image.informed_decision:
        raise TransitionNotAllowed(
            "This image informed a clinical decision and is part of the patient's record."
        )
    addresses = blobrefs.image_addresses(image)
    record(user, "image.delete", image, organisation_id=_org(user, referral))
    image.delete()  # its BlobRefs go with it (cascade)
    # After the commit, each blob goes unless another image (the same bytes) still names it.
    blobrefs.release_on_commit(addresses)


def discard_draft_images(referral: Referral, *, user: User) -> None:
    images = list(LesionImage.objects.filter(lesion__referral=referral))
    if any(i.informed_decision for i in images):
        raise TransitionNotAllowed("Images that informed a decision cannot be deleted.")
    ids = [i.pk for i in images]
    addresses = set().union(*(blobrefs.image_addresses(i) for i in images)) if images else set()
    LesionImage.objects.filter(pk__in=ids).delete()
    blobrefs.release_on_commit(addresses)


def mark_images_used_for_decision(referral: Referral) -> int:
    return LesionImage.objects.filter(
        lesion__referral=referral, status=ImageStatus.READY, informed_decision=False
    ).update(informed_decision=True)


VIEWABLE = ("thumbnail", "viewer", "master", "ers")


def read_derivative(image: LesionImage, name: str, *, user: User) -> tuple[bytes, str]:
    """Decrypt one derivative for an authorised viewer; every view is audited."""
    if name not in VIEWABLE:
        raise InvalidImage(f"Unknown image version {name!r}.")
    entry = image.derivatives.get(name)
    if image.status != ImageStatus.READY or not entry:
        raise InvalidImage("This image is not available.")
    data = blob_store().get(entry["address"])
    record(
        user,
        "image.view",
        image,
        organisation_id=_org(user, image.lesion.referral),
        detail={"version": name},
    )
    return data, entry["media_type"]


def images_visible_to(user: User):  # type: ignore[no-untyped-def]
    return LesionImage.objects.filter(lesion__referral__in=Referral.objects.visible_to(user))


def earlier_images(lesion: Lesion, *, user: User, limit: int = 6) -> list[LesionImage]:
    """Ready photos of the same lesion from the patient's earlier referrals, newest first, for
    side-by-side comparison: same patient, same SNOMED CT body site and laterality, a referral
    created before this one, and only referrals this user may see."""
    referral = lesion.referral
    return list(
        images_visible_to(user)
        .filter(
            status=ImageStatus.READY,
            lesion__referral__patient_id=referral.patient_id,
            lesion__body_site_code=lesion.body_site_code,
            lesion__laterality=lesion.laterality,
            lesion__referral__created_at__lt=referral.created_at,
        )
        .exclude(lesion__referral=referral)
        .select_related("lesion__referral")
        .order_by("-lesion__referral__created_at", "id")[:limit]
    )


__all__ = [
    "DEFAULT_REQUIRED",
    "ReferralKind",
    "accept_upload",
    "accept_uploads",
    "delete_image",
    "earlier_images",
    "image_set_problems",
    "images_visible_to",
    "lesion_image_set",
    "mark_images_used_for_decision",
    "process_lesion_image",
    "read_derivative",
    "requeue_stuck_images",
]
