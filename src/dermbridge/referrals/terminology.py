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
# The 'skin of' concepts dermatology photographs use (searched 2026-11-30 in the FHIR rendering
# of the DICOM value set, bvdh/dicom-terminology-in-fhir, version 20240913).
DICOM_4029 = "DICOM PS3.16 CID 4029 Dermatology Anatomic Site"
OHDSI = "OHDSI standard vocabulary (SNOMED, valid)"
# Found paired with the same term in two or more independent public code listings (HL7 FHIR
# examples and implementation guides, OpenSAFELY codelists, UMLS/OHDSI mappings, ICD-10 to
# SNOMED CT tables), searched on 2026-11-30; ids found with a different term anywhere are left
# out or carry a caution.
PUBLIC_LISTINGS = "two or more independent public code listings (2026-11-30 search)"


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
        # Added 2026-11-30 for the body map's face, back and backs of limbs (issue #9): each
        # a 'skin of' concept, found with this meaning in DICOM CID 4029.
        Concept("23747009", "Chin", source=DICOM_4029),
        Concept("362916000", "Around the eye", source=DICOM_4029),
        Concept("4658004", "Back of neck", source=DICOM_4029),
        Concept(
            "699893008",
            "Upper back",
            source=DICOM_4029,
            caution="CID 4029 term is 'Skin of back of upper thoracic region'",
        ),
        Concept("113182001", "Lower back", source=DICOM_4029),
        Concept("72939005", "Back of upper arm", source=DICOM_4029),
        Concept("41550009", "Back of forearm", source=DICOM_4029),
        Concept(
            "281642007",
            "Back of hand",
            source=DICOM_4029,
            caution="CID 4029 term is 'Skin of part of dorsal surface of hand'",
        ),
        Concept("70887009", "Palm", source=DICOM_4029),
        Concept("4578000", "Back of thigh", source=DICOM_4029),
        Concept("84507004", "Back of knee", source=DICOM_4029),
        Concept("47224004", "Calf", source=DICOM_4029),
        Concept("84607009", "Heel", source=DICOM_4029),
    ]
}

# Grouped for the picker (an optgroup each, so the list stays usable without JavaScript).
MALIGNANT_GROUP = "Skin cancer and pre-cancer"
BENIGN_GROUP = "Benign lesions"
INFLAMMATORY_GROUP = "Rashes and inflammatory conditions"
INFECTION_GROUP = "Infections and infestations"


@dataclass(frozen=True)
class Diagnosis(Concept):
    group: str = BENIGN_GROUP
    also: str = ""  # other words people search by (shown in brackets, searched by the filter)


DIAGNOSES: dict[str, Diagnosis] = {
    c.code: c
    for c in [
        Diagnosis(
            "372244006",
            "Malignant melanoma",
            malignant=True,
            source="DOMAIN.md; SNOMED FSN Malignant melanoma (disorder)",
            caution="any site, not skin-specific; 93655004 is Malignant melanoma of skin",
            group=MALIGNANT_GROUP,
        ),
        Diagnosis(
            "302836005",
            "Lentigo maligna",
            premalignant=True,
            source=f"{OHDSI}; {PUBLIC_LISTINGS}",
            group=MALIGNANT_GROUP,
            also="melanoma in situ",
        ),
        Diagnosis(
            "254701007",
            "Basal cell carcinoma of skin",
            malignant=True,
            source=OHDSI,
            group=MALIGNANT_GROUP,
            also="BCC, rodent ulcer",
        ),
        Diagnosis(
            "254651007",
            "Squamous cell carcinoma of skin",
            malignant=True,
            source=OHDSI,
            group=MALIGNANT_GROUP,
            also="SCC",
        ),
        Diagnosis(
            "201101007",
            "Actinic keratosis",
            premalignant=True,
            source=DICOM_4405,
            group=MALIGNANT_GROUP,
            also="solar keratosis",
        ),
        Diagnosis(
            # Replaced 61686008 on 2026-11-27: public FHIR examples use that id for "Physical
            # exercise", so it was almost certainly not Bowen's disease.
            "189565007",
            "Bowen's disease (squamous cell carcinoma in situ)",
            premalignant=True,
            source="VisualDx diagnosis 51214 (Squamous cell carcinoma in situ, also Bowen disease): SNOMEDCT 189565007",
            caution="the concept is carcinoma in situ of any site, not skin-specific; confirm a skin-specific concept on the UK Edition",
            group=MALIGNANT_GROUP,
        ),
        Diagnosis("400182000", "Melanocytic naevus", also="mole"),
        Diagnosis(
            # Replaced 402544006 (no public source found, hazard log H-07) on 2026-11-30.
            "394726009",
            "Seborrhoeic keratosis",
            source=f"{OHDSI} (ICD-10 L82 maps to it); {PUBLIC_LISTINGS}",
            also="seborrheic wart",
        ),
        Diagnosis(
            "72100002",
            "Solar lentigo",
            source="SNOMED Expo page 72100002 Solar lentigo (disorder)",
            also="age spot, liver spot",
        ),
        Diagnosis("201113000", "Dermatofibroma"),
        Diagnosis("49420001", "Pyogenic granuloma"),
        Diagnosis("93163002", "Lipoma", source=PUBLIC_LISTINGS),
        Diagnosis("9014002", "Psoriasis", source=DICOM_4405, group=INFLAMMATORY_GROUP),
        Diagnosis("24079001", "Atopic dermatitis", source=DICOM_4405, group=INFLAMMATORY_GROUP),
        Diagnosis("43116000", "Eczema", source=PUBLIC_LISTINGS, group=INFLAMMATORY_GROUP),
        Diagnosis(
            "40275004", "Contact dermatitis", source=PUBLIC_LISTINGS, group=INFLAMMATORY_GROUP
        ),
        Diagnosis("50563003", "Seborrhoeic dermatitis", group=INFLAMMATORY_GROUP),
        Diagnosis("398909004", "Rosacea", source=DICOM_4405, group=INFLAMMATORY_GROUP),
        Diagnosis("88616000", "Acne vulgaris", group=INFLAMMATORY_GROUP),
        Diagnosis(
            "126485001",
            "Urticaria",
            source=PUBLIC_LISTINGS,
            group=INFLAMMATORY_GROUP,
            also="hives",
        ),
        Diagnosis(
            "59393003", "Hidradenitis suppurativa", source=PUBLIC_LISTINGS, group=INFLAMMATORY_GROUP
        ),
        Diagnosis("56727007", "Vitiligo", source=PUBLIC_LISTINGS, group=INFLAMMATORY_GROUP),
        Diagnosis("68225006", "Alopecia areata", source=PUBLIC_LISTINGS, group=INFLAMMATORY_GROUP),
        Diagnosis("48277006", "Impetigo", source=PUBLIC_LISTINGS, group=INFECTION_GROUP),
        Diagnosis("128045006", "Cellulitis", source=PUBLIC_LISTINGS, group=INFECTION_GROUP),
        Diagnosis(
            "4740000",
            "Herpes zoster",
            source=PUBLIC_LISTINGS,
            group=INFECTION_GROUP,
            also="shingles",
        ),
        Diagnosis("128869009", "Scabies", source=PUBLIC_LISTINGS, group=INFECTION_GROUP),
    ]
}
GROUP_ORDER = (MALIGNANT_GROUP, BENIGN_GROUP, INFLAMMATORY_GROUP, INFECTION_GROUP)


def body_site_choices() -> list[tuple[str, str]]:
    return [(c.code, c.label) for c in BODY_SITES.values()]


def diagnosis_text(concept: Diagnosis) -> str:
    """The picker's text for a diagnosis: its term, with the other words people search by."""
    return f"{concept.label} ({concept.also})" if concept.also else concept.label


def diagnosis_choices() -> list[tuple[str, str]]:
    """Every diagnosis as (code, text), alphabetical."""
    return [(c.code, diagnosis_text(c)) for c in sorted(DIAGNOSES.values(), key=lambda c: c.label)]


def grouped_diagnosis_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The picker's choices in optgroups (cancer first), alphabetical within each group."""
    return [
        (
            group,
            [
                (c.code, diagnosis_text(c))
                for c in sorted(DIAGNOSES.values(), key=lambda c: c.label)
                if c.group == group
            ],
        )
        for group in GROUP_ORDER
    ]


def _term_in_sentence(label: str) -> str:
    """'Malignant melanoma' -> 'malignant melanoma'; a name (Bowen's) keeps its capital."""
    first = label.split(" ", 1)[0]
    if first.endswith("'s") or first.isupper():
        return label
    return label[:1].lower() + label[1:]


def working_diagnosis(code: str, histology_code: str = "") -> str:
    """The one wording of a diagnosis for the GP and the patient (pages, API, letters).

    A dermatologist's diagnosis from photographs is a clinical impression: until histology
    confirms it, a malignant or pre-malignant one reads "Suspected …" and a benign one
    "Likely …". Once a histology diagnosis is recorded, that one is given, "confirmed by
    histology".
    """
    if histology_code:
        confirmed = DIAGNOSES.get(histology_code)
        return f"{confirmed.label if confirmed else histology_code} (confirmed by histology)"
    concept = DIAGNOSES.get(code)
    if concept is None:
        return f"Suspected diagnosis: SNOMED CT {code}" if code else "No diagnosis recorded"
    prefix = "Suspected" if concept.malignant or concept.premalignant else "Likely"
    return f"{prefix} {_term_in_sentence(concept.label)}"


def to_review() -> list[Concept]:
    """Concepts a clinical safety officer must check against the UK Edition (hazard H-07)."""
    return [c for c in (*BODY_SITES.values(), *DIAGNOSES.values()) if c.needs_review]
