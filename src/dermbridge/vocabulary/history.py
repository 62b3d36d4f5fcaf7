"""The clinical history minimum dataset: each question as the referrer is asked it.

The same words label the history form, the referral's check page, the FHIR
QuestionnaireResponse (``item.text``: the question as it was put to the person answering) and
the e-RS referral letter. Keys are ``referrals.ClinicalHistory`` field names, in form order.

Where the web form and the FHIR mapping had each kept their own wording, the form's (the
words the referrer answered) was kept, except for the personal history of skin cancer, where
"Personal history of skin cancer?" says unambiguously that it is the patient's own history
(next to "Family history of skin cancer?") and matches the field and the clinical term.
"""

from __future__ import annotations

from typing import Final

HISTORY_QUESTIONS: Final[dict[str, str]] = {
    "onset": "When did the patient first notice it?",
    "duration_detail": "More about the onset",
    "multiple_lesions": "More than one lesion?",
    "changed_size": "Changed in size?",
    "changed_shape": "Changed in shape?",
    "changed_colour": "Changed in colour?",
    "bleeding": "Bleeding?",
    "itch": "Itch?",
    "ulceration": "Ulceration?",
    "pain": "Pain?",
    "elevation": "Raised?",
    "personal_history_skin_cancer": "Personal history of skin cancer?",
    "family_history_skin_cancer": "Family history of skin cancer?",
    "immunosuppressed": "Immunosuppressed?",
    "sun_exposure": "Sun exposure",
    "medications": "Current medicines",
    "allergies": "Allergies",
    "treatments_tried": "Treatments tried",
    "treatment_effect": "Effect of those treatments",
    "other_notes": "Anything else the dermatologist should know",
}
