"""Which of the patient's earlier lesions a new referral's lesion probably is: a suggestion the
dermatologist confirms or rejects, never a link made on its own.

Score (0 to 1) = the weighted sum of five parts, each 0 to 1 (docs/lesions.md):

==============  ======  =================================================================
part            weight  how
==============  ======  =================================================================
body site       0.35    1 when the SNOMED CT site codes are equal, else 0
side            0.20    1 equal, 0.5 when either is blank or midline, 0 left against right
description     0.15    word overlap (Jaccard) of the descriptions, stop words removed
size            0.10    smaller / larger recorded diameter (lesions grow); 0.5 unknown
image           0.20    1 - (smallest pHash distance between the photos) / 32; 0.5 unknown
==============  ======  =================================================================

The image part uses the 64-bit DCT perceptual hash the image pipeline stores for every photo
(`LesionImage.perceptual_hash`): no photo is decrypted to suggest a match. Two unrelated photos
differ in about 32 of the 64 bits, the same lesion re-photographed in fewer, so 32 bits or more
scores 0. Whole-frame hashes are weak evidence (framing and lighting change between visits), so
the part carries a fifth of the weight; site and side carry more than half, because a wrong
site is the commonest real mismatch. A suggestion is shown when the score is at least
SUGGEST_AT; the best is pre-selected only above CONFIDENT_AT.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

WEIGHTS = {"site": 0.35, "side": 0.20, "description": 0.15, "size": 0.10, "image": 0.20}
SUGGEST_AT = 0.45
CONFIDENT_AT = 0.75
HASH_BITS_UNRELATED = 32
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "of",
        "on",
        "the",
        "with",
        "in",
        "to",
        "at",
        "for",
        "is",
        "it",
        "its",
        "no",
        "not",
        "new",
        "old",
        "lesion",
        "skin",
    ]
)


@dataclass(frozen=True)
class Facts:
    """What is known of one lesion for matching."""

    site: str
    side: str
    description: str
    size_mm: float | None
    hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Score:
    total: float
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def suggested(self) -> bool:
        return self.total >= SUGGEST_AT

    @property
    def confident(self) -> bool:
        return self.total >= CONFIDENT_AT


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2 and w not in STOP_WORDS}


def _side(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if not a or not b or "midline" in (a, b) or "bilateral" in (a, b):
        return 0.5
    return 0.0


def _description(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def _size(a: float | None, b: float | None) -> float:
    if not a or not b:
        return 0.5
    return min(a, b) / max(a, b)


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _image(a: Iterable[str], b: Iterable[str]) -> float:
    pairs = [hamming(x, y) for x in a if x for y in b if y]
    if not pairs:
        return 0.5
    return max(0.0, 1.0 - min(pairs) / HASH_BITS_UNRELATED)


def score(new: Facts, earlier: Facts) -> Score:
    parts = {
        "site": 1.0 if new.site == earlier.site else 0.0,
        "side": _side(new.side, earlier.side),
        "description": _description(new.description, earlier.description),
        "size": _size(new.size_mm, earlier.size_mm),
        "image": _image(new.hashes, earlier.hashes),
    }
    total = sum(WEIGHTS[k] * v for k, v in parts.items())
    return Score(round(total, 3), {k: round(v, 3) for k, v in parts.items()})
