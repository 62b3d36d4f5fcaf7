"""The image set a lesion needs before its referral can be sent, and what each service's
pipeline checks: the image-set rules (BAD/PCDS 2013, overridden per service and pathway)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings

from dermbridge.imaging.models import ImageStatus, ImageType
from dermbridge.imaging.pipeline.types import PipelineConfig
from dermbridge.referrals.models import Lesion, Referral

if TYPE_CHECKING:
    from dermbridge.accounts.models import Organisation

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
