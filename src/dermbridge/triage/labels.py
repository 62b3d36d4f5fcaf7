"""Diagnostic classes of the triage model (HAM10000 ``dx`` codes) and which count as malignant."""

from __future__ import annotations

# Order is the model's output order; never reorder without a new model version.
CLASSES: tuple[str, ...] = ("nv", "mel", "bkl", "bcc", "akiec", "vasc", "df")
# Malignant or pre-malignant for triage: melanoma, basal cell carcinoma, actinic keratosis /
# intraepidermal carcinoma (Bowen's). A lesion with mixed features takes the more severe class.
MALIGNANT: tuple[str, ...] = ("mel", "bcc", "akiec")
MALIGNANT_INDICES: tuple[int, ...] = tuple(CLASSES.index(c) for c in MALIGNANT)
# Plain clinical names for the model's classes: the one mapping every page, badge, export and
# letter uses (never the dataset codes). HAM10000's "bkl" groups seborrhoeic keratosis, solar
# lentigo and lichen planus-like keratosis; "akiec" groups actinic keratosis and intraepidermal
# carcinoma (Bowen's disease).
CLASS_NAMES: dict[str, str] = {
    "nv": "Melanocytic naevus (mole)",
    "mel": "Melanoma",
    "bkl": "Benign keratosis (seborrhoeic keratosis, solar lentigo)",
    "bcc": "Basal cell carcinoma",
    "akiec": "Actinic keratosis or Bowen's disease",
    "vasc": "Vascular lesion (such as an angioma)",
    "df": "Dermatofibroma",
}


def class_name(code: str) -> str:
    """The plain clinical name of a model class; an unknown code is shown as it is."""
    return CLASS_NAMES.get(code, code)
