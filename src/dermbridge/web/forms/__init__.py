"""Forms for the pages: they check the shape of what was typed; the services check the rules.

- ``base``: NHS.UK widget classes, error messages naming their field, the date of birth, and
  ``apply_service_errors``;
- ``referral``: what the referrer sends (patient, request, history, lesions, photos);
- ``review``: what the dermatology service answers, and the worklist filter;
- ``account``: the second sign-in factor.

Labels of clinical terms come from the models' ``TextChoices`` and ``dermbridge.vocabulary``,
never typed here. Every name is importable from ``dermbridge.web.forms``.
"""

from dermbridge.web.forms.account import TwoFactorForm
from dermbridge.web.forms.base import (
    BLANK,
    DateOfBirthField,
    DateOfBirthWidget,
    NhsForm,
    NhsFormMixin,
    apply_service_errors,
    field_name,
    mentions,
    required_message,
)
from dermbridge.web.forms.referral import (
    HISTORY_LABELS,
    HistoryForm,
    ImageUploadForm,
    LesionForm,
    MultipleFileField,
    MultipleFileInput,
    PatientForm,
    ReferralForm,
)
from dermbridge.web.forms.review import (
    ConvertForm,
    DowngradeForm,
    LesionOutcomeForm,
    OutcomeForm,
    PatientToldForm,
    TextForm,
    WorklistFilterForm,
)

__all__ = [
    "BLANK",
    "HISTORY_LABELS",
    "ConvertForm",
    "DateOfBirthField",
    "DateOfBirthWidget",
    "DowngradeForm",
    "HistoryForm",
    "ImageUploadForm",
    "LesionForm",
    "LesionOutcomeForm",
    "MultipleFileField",
    "MultipleFileInput",
    "NhsForm",
    "NhsFormMixin",
    "OutcomeForm",
    "PatientForm",
    "PatientToldForm",
    "ReferralForm",
    "TextForm",
    "TwoFactorForm",
    "WorklistFilterForm",
    "apply_service_errors",
    "field_name",
    "mentions",
    "required_message",
]
