"""Age, sex and body site beside the image: encoding and the post-hoc fusion used at runtime.

The referral records the patient's date of birth and sex and each lesion's SNOMED CT body site;
HAM10000 records age (5-year steps), sex and a coarse localisation. Both are mapped to the same
small vector (:func:`encode`); any field may be missing (the fusion was fitted with each field
dropped at random, so a missing field simply contributes nothing beyond its "missing" state).

Fusion (fitted by ``training/fusion.py``; weights in the model card, numpy only here):
``logits = image_weight * log p_image + W @ encode(metadata) + b``, then softmax. With all
fields missing it reduces to a fixed affine map of the image log-probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# HAM10000 localisation values (without "unknown"), in a fixed order: never reorder.
SITES: tuple[str, ...] = (
    "back",
    "lower extremity",
    "trunk",
    "upper extremity",
    "abdomen",
    "face",
    "chest",
    "foot",
    "neck",
    "scalp",
    "hand",
    "ear",
    "genital",
    "acral",
)
FEATURES: tuple[str, ...] = (
    "age_known",
    "age_decades_centred",
    "age_decades_centred_sq",
    "male",
    "female",
    *(f"site:{s}" for s in SITES),
)

# The referral's SNOMED CT body sites (referrals.terminology.BODY_SITES) as HAM10000 localisations.
SNOMED_TO_SITE: dict[str, str] = {
    "41695006": "scalp",
    "52795006": "face",
    "89545001": "face",
    "45206002": "face",
    "60819002": "face",
    "48477009": "face",
    "117590005": "ear",
    "45048000": "neck",
    "16982005": "upper extremity",
    "51185008": "chest",
    "76752008": "chest",
    "818983003": "abdomen",
    "77568009": "back",
    "46862004": "trunk",
    "40983000": "upper extremity",
    "14975008": "upper extremity",
    "85562004": "hand",
    "7569003": "hand",
    "68367000": "lower extremity",
    "72696002": "lower extremity",
    "30021000": "lower extremity",
    "56459004": "foot",
    "29707007": "foot",
}


@dataclass(frozen=True)
class LesionMetadata:
    """What the referral knows about the lesion; None (or "unknown") where it is not recorded."""

    age: float | None = None
    sex: str | None = None
    site: str | None = None

    def fields_known(self) -> int:
        return (
            int(self.age is not None)
            + int(self.sex in ("male", "female"))
            + int(self.site in SITES)
        )


def encode(meta: LesionMetadata | None) -> np.ndarray:
    """The metadata vector (:data:`FEATURES`); all zeros when nothing is known."""
    x = np.zeros(len(FEATURES), dtype=np.float64)
    if meta is None:
        return x
    if meta.age is not None and 0 <= meta.age <= 120:
        a = (float(meta.age) - 50.0) / 10.0
        x[0], x[1], x[2] = 1.0, a, a * a / 4.0
    if meta.sex == "male":
        x[3] = 1.0
    elif meta.sex == "female":
        x[4] = 1.0
    if meta.site in SITES:
        x[5 + SITES.index(meta.site)] = 1.0
    return x


@dataclass(frozen=True)
class Fusion:
    """Post-hoc combination of the image's calibrated log-probabilities with metadata."""

    image_weight: float
    weights: np.ndarray  # classes x features
    bias: np.ndarray  # classes

    @classmethod
    def from_card(cls, spec: dict[str, Any]) -> Fusion:
        if tuple(spec["features"]) != FEATURES:
            raise ValueError("metadata features in the card do not match this code")
        return cls(
            image_weight=float(spec["image_weight"]),
            weights=np.asarray(spec["weights"], dtype=np.float64),
            bias=np.asarray(spec["bias"], dtype=np.float64),
        )

    def logits(self, log_probs: np.ndarray, meta: np.ndarray) -> np.ndarray:
        """Fused logits for N x classes image log-probabilities and N x features metadata."""
        return self.image_weight * log_probs + meta @ self.weights.T + self.bias
