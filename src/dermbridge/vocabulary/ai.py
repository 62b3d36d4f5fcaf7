"""What the AI says when it declines to assess a photo (``Assessment.abstention_reason``).

Written once here: the triage model writes them, the photographer's quality review
(imaging.quality_review) recognises the two that mean "this is not a dermoscopic photo" and
shows its own advice, and the drift monitor counts them. Plain data, no Django.
"""

from __future__ import annotations

OOD_REASON = (
    "This does not look like a dermoscopic image of a skin lesion of the kind the model was "
    "trained on (for example a clinical overview photo, a non-skin photo or a synthetic image)."
)

COLOUR_REASON = (
    "The colours and texture of this image are unlike dermoscopic images of skin lesions (for "
    "example a greyscale, non-skin or heavily processed photo); it cannot be assessed."
)

UNCERTAIN_REASON = (
    "The model cannot place this image among the seven lesion types it knows (no type reaches "
    "the confidence almost every training-like dermoscopic image reaches); this happens with "
    "non-skin photos and with lesions unlike its training images, so it gives no assessment."
)
