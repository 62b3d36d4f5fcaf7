"""Diagnostic classes of the triage model (HAM10000 ``dx`` codes) and which count as malignant."""

from __future__ import annotations

# Order is the model's output order; never reorder without a new model version.
CLASSES: tuple[str, ...] = ("nv", "mel", "bkl", "bcc", "akiec", "vasc", "df")
# Malignant or pre-malignant for triage: melanoma, basal cell carcinoma, actinic keratosis /
# intraepidermal carcinoma (Bowen's). A lesion with mixed features takes the more severe class.
MALIGNANT: tuple[str, ...] = ("mel", "bcc", "akiec")
MALIGNANT_INDICES: tuple[int, ...] = tuple(CLASSES.index(c) for c in MALIGNANT)
CLASS_NAMES: dict[str, str] = {
    "nv": "Melanocytic naevus",
    "mel": "Melanoma",
    "bkl": "Benign keratosis-like lesion",
    "bcc": "Basal cell carcinoma",
    "akiec": "Actinic keratosis / intraepidermal carcinoma",
    "vasc": "Vascular lesion",
    "df": "Dermatofibroma",
}
