"""Curated SNOMED CT codes for lesion body sites and dermatology diagnoses.

Source: SNOMED CT International Edition concept ids (body structure and clinical finding
hierarchies) as listed in DOMAIN.md and the SNOMED International browser. `verified=True` marks
the codes confirmed against a published source in this repository's docs (DOMAIN.md, or a
public FHIR mapping); every other code must be checked against the current UK Edition before
clinical use — see docs/hazard-log.md, hazard H-07. Never edit a code without updating that log.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Concept:
    code: str
    label: str
    verified: bool = False
    malignant: bool = False
    premalignant: bool = False


BODY_SITES: dict[str, Concept] = {
    c.code: c
    for c in [
        Concept("41695006", "Scalp"),
        Concept("52795006", "Forehead"),
        Concept("89545001", "Face"),
        Concept("45206002", "Nose"),
        Concept("60819002", "Cheek"),
        Concept("48477009", "Lip"),
        Concept("117590005", "Ear"),
        Concept("45048000", "Neck"),
        Concept("16982005", "Shoulder"),
        Concept("51185008", "Chest"),
        Concept("76752008", "Breast"),
        Concept("818983003", "Abdomen"),
        Concept("77568009", "Back"),
        Concept("46862004", "Buttock"),
        Concept("40983000", "Upper arm"),
        Concept("14975008", "Forearm"),
        Concept("85562004", "Hand"),
        Concept("7569003", "Finger"),
        Concept("68367000", "Thigh"),
        Concept("72696002", "Knee"),
        Concept("30021000", "Lower leg"),
        Concept("56459004", "Foot"),
        Concept("29707007", "Toe"),
    ]
}

DIAGNOSES: dict[str, Concept] = {
    c.code: c
    for c in [
        Concept("372244006", "Malignant melanoma", verified=True, malignant=True),
        Concept("254701007", "Basal cell carcinoma of skin", verified=True, malignant=True),
        Concept("254651007", "Squamous cell carcinoma of skin", malignant=True),
        Concept("201101007", "Actinic keratosis", premalignant=True),
        Concept("61686008", "Bowen's disease (intraepidermal carcinoma)", premalignant=True),
        Concept("400182000", "Melanocytic naevus", verified=True),
        Concept("402544006", "Seborrhoeic keratosis"),
        Concept("72100002", "Solar lentigo"),
        Concept("201113000", "Dermatofibroma"),
        Concept("49420001", "Pyogenic granuloma"),
        Concept("9014002", "Psoriasis"),
        Concept("24079001", "Atopic dermatitis"),
        Concept("50563003", "Seborrhoeic dermatitis"),
        Concept("398909004", "Rosacea"),
        Concept("88616000", "Acne vulgaris"),
    ]
}


def body_site_choices() -> list[tuple[str, str]]:
    return [(c.code, c.label) for c in BODY_SITES.values()]


def diagnosis_choices() -> list[tuple[str, str]]:
    return [(c.code, c.label) for c in sorted(DIAGNOSES.values(), key=lambda c: c.label)]
