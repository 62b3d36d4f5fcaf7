"""The image quality checks, by the names a service uses to make one of them blocking
(``Organisation.blocking_quality_checks``) and the image pipeline reports them by."""

from __future__ import annotations

from typing import Final

QUALITY_CHECKS: Final[tuple[str, ...]] = (
    "blur",
    "exposure",
    "glare",
    "noise",
    "compression",
    "resolution",
    "framing",
    "duplicate",
    "image_type",
)
