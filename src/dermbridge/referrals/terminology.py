"""Curated SNOMED CT codes for lesion body sites and dermatology diagnoses.

Source: SNOMED CT International Edition concept ids (body structure and clinical finding
hierarchies). A concept with a `source` was found paired with the same term in a published
standard or terminology listing (DICOM PS3.16 context groups, the Belgian eHealth FHIR body-site
value set, HL7 FHIR value sets, the OHDSI vocabulary, SNOMED's own pages); that is a check of the
id against its term, not a clinical review of the choice. Every concept without one, and every
concept with a `caution`, must be checked against the current UK Edition before clinical use:
docs/hazard-log.md, hazard H-07. Never edit a code without updating that log.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Concept:
    code: str
    label: str
    malignant: bool = False
    premalignant: bool = False
    source: str = ""  # where the id was found paired with this term
    caution: str = ""  # a known doubt about the code, for the hazard log

    @property
    def verified(self) -> bool:
        """The id was found paired with this term in a published source."""
        return bool(self.source)

    @property
    def needs_review(self) -> bool:
        return not self.source or bool(self.caution)


DICOM_4031 = "DICOM PS3.16 CID 4031 Common Anatomic Regions"
BE_BODY_SITE = "Belgian eHealth FHIR ValueSet be-vs-body-site"
DICOM_4405 = "DICOM PS3.16 CID 4405 Skin Disorders"
OHDSI = "OHDSI standard vocabulary (SNOMED, valid)"


BODY_SITES: dict[str, Concept] = {
    c.code: c
    for c in [
        Concept("41695006", "Scalp"),
        Concept("52795006", "Forehead", source=BE_BODY_SITE),
        Concept("89545001", "Face", source=BE_BODY_SITE),
        Concept("45206002", "Nose", source=BE_BODY_SITE),
        Concept("60819002", "Cheek", source=BE_BODY_SITE),
        Concept("48477009", "Lip", source=BE_BODY_SITE),
        Concept("117590005", "Ear", source=BE_BODY_SITE),
        Concept("45048000", "Neck", source=DICOM_4031),
        Concept("16982005", "Shoulder", source=DICOM_4031),
        Concept(
            "51185008",
            "Chest",
            source=BE_BODY_SITE,
            caution="Thoracic structure; DICOM CID 4031 (2025) uses 816094009 for Chest",
        ),
        Concept("76752008", "Breast", source=DICOM_4031),
        Concept(
            "818983003",
            "Abdomen",
            source=BE_BODY_SITE,
            caution="an abdominopelvic grouper concept; DICOM CID 4031 (2025) uses 818981001 for Abdomen",
        ),
        Concept("77568009", "Back"),
        Concept("46862004", "Buttock"),
        Concept("40983000", "Upper arm", source=DICOM_4031),
        Concept("14975008", "Forearm", source=DICOM_4031),
        Concept("85562004", "Hand", source=DICOM_4031),
        Concept("7569003", "Finger", source=DICOM_4031),
        Concept("68367000", "Thigh", source=DICOM_4031),
        Concept("72696002", "Knee", source=DICOM_4031),
        Concept("30021000", "Lower leg", source=DICOM_4031),
        Concept("56459004", "Foot", source=DICOM_4031),
        Concept("29707007", "Toe", source=DICOM_4031),
    ]
}

DIAGNOSES: dict[str, Concept] = {
    c.code: c
    for c in [
        Concept(
            "372244006",
            "Malignant melanoma",
            malignant=True,
            source="DOMAIN.md; SNOMED FSN Malignant melanoma (disorder)",
            caution="any site, not skin-specific; 93655004 is Malignant melanoma of skin",
        ),
        Concept("254701007", "Basal cell carcinoma of skin", malignant=True, source=OHDSI),
        Concept("254651007", "Squamous cell carcinoma of skin", malignant=True, source=OHDSI),
        Concept("201101007", "Actinic keratosis", premalignant=True, source=DICOM_4405),
        Concept(
            # Replaced 61686008 on 2026-11-27: public FHIR examples use that id for "Physical
            # exercise", so it was almost certainly not Bowen's disease.
            "189565007",
            "Bowen's disease (squamous cell carcinoma in situ)",
            premalignant=True,
            source="VisualDx diagnosis 51214 (Squamous cell carcinoma in situ, also Bowen disease): SNOMEDCT 189565007",
            caution="the concept is carcinoma in situ of any site, not skin-specific; confirm a skin-specific concept on the UK Edition",
        ),
        Concept("400182000", "Melanocytic naevus"),
        Concept("402544006", "Seborrhoeic keratosis"),
        Concept(
            "72100002", "Solar lentigo", source="SNOMED Expo page 72100002 Solar lentigo (disorder)"
        ),
        Concept("201113000", "Dermatofibroma"),
        Concept("49420001", "Pyogenic granuloma"),
        Concept("9014002", "Psoriasis", source=DICOM_4405),
        Concept("24079001", "Atopic dermatitis", source=DICOM_4405),
        Concept("50563003", "Seborrhoeic dermatitis"),
        Concept("398909004", "Rosacea", source=DICOM_4405),
        Concept("88616000", "Acne vulgaris"),
    ]
}


def body_site_choices() -> list[tuple[str, str]]:
    return [(c.code, c.label) for c in BODY_SITES.values()]


def diagnosis_choices() -> list[tuple[str, str]]:
    return [(c.code, c.label) for c in sorted(DIAGNOSES.values(), key=lambda c: c.label)]


def to_review() -> list[Concept]:
    """Concepts a clinical safety officer must check against the UK Edition (hazard H-07)."""
    return [c for c in (*BODY_SITES.values(), *DIAGNOSES.values()) if c.needs_review]
