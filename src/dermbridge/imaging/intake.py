"""The one way in for images: the web page, the API and the FHIR importer all call
`accept_photo` / `accept_photos`, which judge each file by its content -- a hospital camera's
DICOM object is decoded to its pixels (imaging/pipeline/dicom.py), anything else must be a
photo -- and then store it encrypted and queue it for the pipeline (imaging/processing.py).

Nothing is kept of a file that is refused: the checks run before the blob is written, and a
batch chosen together is accepted whole or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from dermbridge.audit.services import batched, record
from dermbridge.core.errors import InvalidImage, NotFound, NotPermitted, TransitionNotAllowed
from dermbridge.core.queue import enqueue_atomic
from dermbridge.imaging import blobrefs
from dermbridge.imaging.models import DermoscopyMode, ImageStatus, ImageType, LesionImage
from dermbridge.imaging.pipeline import dicom
from dermbridge.imaging.pipeline.intake import sniff_format
from dermbridge.imaging.pipeline.types import ImageRejected
from dermbridge.imaging.storage import blob_store
from dermbridge.referrals import permissions
from dermbridge.referrals.models import Lesion, Referral, State

if TYPE_CHECKING:
    from dermbridge.accounts.models import User

log = logging.getLogger(__name__)
EDITABLE_STATES = (State.DRAFT, State.MORE_INFO_REQUESTED)

MAX_IMAGES_PER_LESION = 12


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


def accept_photo(
    lesion: Lesion,
    *,
    user: User,
    fileobj: IO[bytes],
    image_type: str = "",
    dermoscopy_mode: str = "",
    dicom_only: bool = False,
) -> LesionImage:
    """One file for a lesion, whatever door it came through. A DICOM Part 10 object (judged by
    its first bytes, never its name) is decoded to its pixels: its image type is the object's
    unless `image_type` says otherwise, its dermoscopy mode the object's, and its Patient ID,
    when an NHS number, must be this patient's. Anything else goes to `accept_upload`, unless
    the caller asked for DICOM only (the API's DICOM address), which then refuses it."""
    position = fileobj.tell()
    head = fileobj.read(132)
    fileobj.seek(position)
    if not dicom.is_dicom(head) and not dicom_only:
        return accept_upload(
            lesion,
            user=user,
            fileobj=fileobj,
            image_type=image_type,
            dermoscopy_mode=dermoscopy_mode,
        )
    if not Referral.objects.visible_to(user).filter(pk=lesion.referral_id).exists():
        raise NotFound("No such lesion that you can see.")
    data = fileobj.read(settings.MAX_UPLOAD_BYTES + 1)
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise InvalidImage("The DICOM file is larger than the upload limit.")
    try:
        photo = dicom.photo_from_dicom(data)
    except dicom.DicomImportError as exc:
        raise InvalidImage(str(exc), field_errors={"file": [str(exc)]}) from None
    patient = lesion.referral.patient
    pid = "".join(ch for ch in photo.patient_id if ch in "0123456789")
    if len(pid) == 10 and pid != patient.nhs_number:
        raise NotPermitted(
            "The DICOM image's Patient ID is another NHS number than this referral's patient: "
            "check that the photograph is of this patient."
        )
    return accept_upload(
        lesion,
        user=user,
        fileobj=BytesIO(photo.png),
        image_type=image_type or photo.image_type,
        dermoscopy_mode=photo.dermoscopy_mode,
    )


def accept_photos(
    lesion: Lesion,
    *,
    user: User,
    files: Iterable[IO[bytes]],
    image_type: str,
    dermoscopy_mode: str = "",
) -> list[LesionImage]:
    """Several files of one type chosen together, any of which may be a DICOM object: all are
    accepted or none (see `accept_uploads`)."""
    return accept_uploads(
        lesion,
        user=user,
        files=files,
        image_type=image_type,
        dermoscopy_mode=dermoscopy_mode,
        accept_one=accept_photo,
    )
