"""What a photo's checks mean for the person holding the camera, and what they must do about them.

Three separate things, never mixed:

- **Quality** (the pipeline's checks in ``LesionImage.quality``): a *blocking* problem (a check the
  service made blocking, or a photo that could not be used) means retake; it is never shown green.
  A *warning* (blur, glare, too dark…) is amber: the photographer either retakes the photo or
  chooses "Keep this photo" (``keep_photo``, recorded on the image and audited). Until one of the
  two happens the referral cannot be sent (``unacknowledged_warnings``, called by
  ``imaging.services.image_set_problems``).
- **The AI's note** (``ai_note``): the triage model declining a dermoscopic photo because it does
  not look like the images it was trained on. That is the model's limit, not the photo's quality:
  it never stops sending and needs no acknowledgement; it is shown beside the photo as its own
  note (and to the dermatologist in the AI panel).
- Passed: green only when the photo is ready and every check passed, or its warnings were kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from dermbridge.audit.services import record
from dermbridge.core.errors import InvalidImage, NotPermitted, TransitionNotAllowed
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.referrals import workflow
from dermbridge.referrals.models import Lesion, State
from dermbridge.referrals.transitions import acting_org_id

if TYPE_CHECKING:
    from collections.abc import Iterable

    from dermbridge.accounts.models import User

EDITABLE_STATES = (State.DRAFT, State.MORE_INFO_REQUESTED)
# Before migration imaging 0004 the AI's abstention was stored under this key; never a quality check.
LEGACY_AI_KEY = "dermoscopic_label"

AI_NOT_DERMOSCOPIC_NOTE = (
    "The AI could not assess this photo: it does not look like the dermoscopic photos the AI was "
    "trained on. This is not a problem with the photo's quality and does not stop the referral; "
    "the dermatologist will look at the photo. If it is not a dermoscopic photo, remove it and "
    "add it again as an overview or close-up."
)
AI_OTHER_NOTE = (
    "The AI could not assess this photo. This does not stop the referral; the dermatologist "
    "will look at the photo."
)


class Verdict:
    CHECKING = "checking"
    FAILED = "failed"  # could not be used at all (not a photo, too small…): red
    RETAKE = "retake"  # a check the service made blocking failed: red, never green
    WARNING = "warning"  # amber: keep or retake before sending
    KEPT = "kept"  # warnings seen, photographer chose to keep it
    PASSED = "passed"


TAGS = {
    Verdict.CHECKING: ("Being checked", "blue"),
    Verdict.FAILED: (str(ImageStatus.FAILED.label), "red"),
    Verdict.RETAKE: ("Retake this photo", "red"),
    Verdict.WARNING: ("Check this photo", "orange"),
    Verdict.KEPT: ("Kept with a warning", "yellow"),
    Verdict.PASSED: ("Ready", "green"),
}


@dataclass(frozen=True)
class PhotoReview:
    """One photo's result, as the photo page shows it."""

    verdict: str
    blocking: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ai_note: str = ""

    @property
    def tag(self) -> str:
        return TAGS[self.verdict][0]

    @property
    def colour(self) -> str:
        return TAGS[self.verdict][1]

    @property
    def needs_action(self) -> bool:
        return self.verdict in (Verdict.FAILED, Verdict.RETAKE, Verdict.WARNING)

    @property
    def usable(self) -> bool:
        """Counts towards the lesion's photo set (ready, nothing blocking)."""
        return self.verdict in (Verdict.WARNING, Verdict.KEPT, Verdict.PASSED)


def _checks(image: LesionImage) -> list[dict[str, object]]:
    return [
        c for k, c in (image.quality or {}).items() if k != LEGACY_AI_KEY and isinstance(c, dict)
    ]


def blocking_problems(image: LesionImage) -> list[str]:
    return [
        str(c["message"]) for c in _checks(image) if c.get("blocking") and not c.get("ok", True)
    ]


def warnings(image: LesionImage) -> list[str]:
    return [
        str(c["message"]) for c in _checks(image) if not c.get("blocking") and not c.get("ok", True)
    ]


def ai_note(image: LesionImage) -> str:
    """The AI's own note on a dermoscopic photo it declined to assess ("" when it did not)."""
    if image.image_type != ImageType.DERMOSCOPIC or image.status != ImageStatus.READY:
        return ""
    from dermbridge.vocabulary.ai import COLOUR_REASON, OOD_REASON

    # Prefetched by the photo page (prefetch_related("assessments")); newest first.
    declined = [a for a in image.assessments.all() if a.abstained]
    if not declined:
        return ""
    if declined[0].abstention_reason in (COLOUR_REASON, OOD_REASON):
        return AI_NOT_DERMOSCOPIC_NOTE
    return AI_OTHER_NOTE


def review(image: LesionImage) -> PhotoReview:
    if image.status == ImageStatus.PROCESSING:
        return PhotoReview(Verdict.CHECKING)
    if image.status == ImageStatus.FAILED:
        reason = image.failure_reason or "This photo could not be used."
        return PhotoReview(Verdict.FAILED, blocking=[reason])
    blocking, warned, note = blocking_problems(image), warnings(image), ai_note(image)
    if blocking:
        return PhotoReview(Verdict.RETAKE, blocking, warned, note)
    if warned:
        verdict = Verdict.KEPT if image.quality_acknowledged_at else Verdict.WARNING
        return PhotoReview(verdict, blocking, warned, note)
    return PhotoReview(Verdict.PASSED, ai_note=note)


def unacknowledged_warnings(lesions: Iterable[Lesion]) -> list[str]:
    """What stops sending: each ready photo with a quality warning nobody kept or replaced."""
    problems = []
    for lesion in lesions:
        for image in lesion.images.all():
            if image.status != ImageStatus.READY or image.quality_acknowledged_at:
                continue
            if blocking_problems(image):
                continue  # said by image_set_problems as "retake"
            warned = warnings(image)
            if warned:
                problems.append(
                    f"Lesion {lesion.number}: keep or retake the "
                    f"{image.get_image_type_display().lower()} photo ({warned[0]})"
                )
    return problems


@transaction.atomic
def keep_photo(image: LesionImage, *, user: User) -> LesionImage:
    """Keep this photo: the photographer has seen its quality warnings and sends it anyway."""
    image = (
        LesionImage.objects.select_for_update().select_related("lesion__referral").get(pk=image.pk)
    )
    referral = image.lesion.referral
    if referral.state not in EDITABLE_STATES:
        raise TransitionNotAllowed(
            f"Referral {referral.reference} has been sent: its photos can no longer be changed."
        )
    if not workflow.is_capturer(user, referral):
        raise NotPermitted("Only the referring practice or its imaging hub can keep a photo.")
    if image.status != ImageStatus.READY or blocking_problems(image):
        raise InvalidImage("This photo cannot be kept: retake it.")
    warned = warnings(image)
    if not warned:
        raise InvalidImage("This photo has no quality warning to keep it despite.")
    if image.quality_acknowledged_at is not None:
        return image
    image.quality_acknowledged_at = timezone.now()
    image.quality_acknowledged_by = user
    image.save(update_fields=["quality_acknowledged_at", "quality_acknowledged_by"])
    record(
        user,
        "image.quality_kept",
        image,
        organisation_id=acting_org_id(user, referral),
        detail={"referral": referral.pk, "lesion": image.lesion_id, "warnings": warned},
    )
    return image


@dataclass(frozen=True)
class ChecklistRow:
    """One required photo type on the photo page: done (green), check (amber) or still needed."""

    image_type: str
    status: str  # "done", "check" or "todo"


def photo_page(
    lesion: Lesion, required: list[str]
) -> tuple[list[tuple[LesionImage, PhotoReview]], list[ChecklistRow]]:
    """Each photo with its review, and the lesion's checklist: a type is done only when a photo
    of it passed or was kept; a photo still to keep or retake makes it amber, never green."""
    photos = [(image, review(image)) for image in lesion.images.all()]
    rows = []
    for image_type in required:
        verdicts = {r.verdict for image, r in photos if image.image_type == image_type}
        if verdicts & {Verdict.PASSED, Verdict.KEPT}:
            status = "done"
        elif Verdict.WARNING in verdicts:
            status = "check"
        else:
            status = "todo"
        rows.append(ChecklistRow(image_type, status))
    return photos, rows
