"""What the referrer sends: the patient, the request, the clinical history, lesions, photos."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import capfirst

from dermbridge.imaging.models import DermoscopyMode, ImageType
from dermbridge.patients.models import ContactPreference, Fitzpatrick, Patient, Sex
from dermbridge.referrals.models import (
    PRESENCE_FIELDS,
    ClinicalHistory,
    Laterality,
    ReferralKind,
)
from dermbridge.referrals.terminology import body_site_choices
from dermbridge.vocabulary import HISTORY_QUESTIONS
from dermbridge.web.forms.base import (
    BLANK,
    DateOfBirthField,
    NhsForm,
    NhsFormMixin,
    _choices,
)


class PatientForm(NhsForm):
    """The patient: found from the NHS number (patients.demographics), or typed in when the
    practice does not hold them yet. Names, date of birth and contact are only asked then."""

    nhs_number = forms.CharField(
        label="NHS number", max_length=14, help_text="10 digits, for example 485 777 3456."
    )
    given_name = forms.CharField(label="First name", max_length=100, required=False)
    family_name = forms.CharField(label="Last name", max_length=100, required=False)
    date_of_birth = DateOfBirthField(
        label="Date of birth", required=False, help_text="For example, 17 5 1960."
    )
    sex = forms.ChoiceField(label="Sex", choices=Sex.choices, initial=Sex.UNKNOWN, required=False)
    fitzpatrick = forms.ChoiceField(
        label=capfirst(Patient._meta.get_field("fitzpatrick").verbose_name),
        choices=BLANK + list(Fitzpatrick.choices),
        required=False,
    )
    email = forms.EmailField(label="Email address", required=False)
    mobile = forms.CharField(label="Mobile phone number", max_length=20, required=False)
    contact_preference = forms.ChoiceField(
        label="How the patient wants to hear about their referral",
        choices=ContactPreference.choices,
        widget=forms.RadioSelect,
        required=False,
        help_text="If you leave this, an email address means email, a mobile number text "
        "messages, neither a letter.",
    )
    consent_direct_care = forms.BooleanField(
        label="The patient agrees to share their photos and history with the dermatology "
        "service for their care",
        required=False,
    )
    NEW_PATIENT_FIELDS = ("given_name", "family_name", "date_of_birth")
    required_messages = {
        "nhs_number": "Enter the patient's NHS number",
        "given_name": "Enter the patient's first name",
        "family_name": "Enter the patient's last name",
        "date_of_birth": "Enter the patient's date of birth",
    }

    def __init__(self, *args: Any, found: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.found = found  # patients.demographics.Demographics, when looked up
        self.fields["nhs_number"].widget.attrs.update(
            {
                "class": "nhsuk-input nhsuk-input--width-10",
                "inputmode": "numeric",
                "autocomplete": "off",
            }
        )
        self.fields["mobile"].widget.attrs.update({"type": "tel", "autocomplete": "off"})

    def clean_nhs_number(self) -> str:
        from dermbridge.patients.models import normalise_nhs_number

        value = self.cleaned_data.get("nhs_number", "")
        try:
            return normalise_nhs_number(value)
        except ValidationError as exc:
            raise ValidationError(exc.messages[0]) from None

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if self.found is not None:
            dob = data.get("date_of_birth")
            if dob and dob != self.found.date_of_birth:
                self.add_error(
                    "date_of_birth",
                    "Date of birth does not match the NHS number. Check both.",
                )
            return data
        if "nhs_number" not in data:
            return data  # the NHS number is wrong: said once, nothing else asked yet
        for name in self.NEW_PATIENT_FIELDS:
            if not data.get(name) and name not in self.errors:
                self.add_error(name, self.required_messages[name])
        email, mobile = data.get("email", ""), data.get("mobile", "").strip()
        if not data.get("contact_preference"):
            from dermbridge.patients.demographics import default_contact

            data["contact_preference"] = default_contact(email, mobile)
        if not data.get("sex"):
            data["sex"] = Sex.UNKNOWN
        return data

    def patient_details(self) -> dict[str, Any]:
        """What start_referral needs: the NHS number and, for a new patient, the rest."""
        data = self.cleaned_data
        if self.found is not None:
            return {"nhs_number": data["nhs_number"], "date_of_birth": self.found.date_of_birth}
        return {k: v for k, v in data.items() if k != "consent_direct_care"}


class ReferralForm(NhsForm):
    kind = forms.ChoiceField(
        label="What do you need?", choices=ReferralKind.choices, widget=forms.RadioSelect
    )
    service = forms.TypedChoiceField(label="Dermatology service", coerce=int, choices=())
    imaging_hub = forms.TypedChoiceField(
        label="Imaging hub taking the photos (optional)",
        coerce=int,
        choices=(),
        required=False,
        empty_value=None,
    )
    clinical_question = forms.CharField(
        label="Your question for the dermatologist",
        widget=forms.Textarea,
        required=False,
        max_length=5000,
    )

    def __init__(
        self,
        *args: Any,
        services: list[tuple[int, str]] = (),  # type: ignore[assignment]
        hubs: list[tuple[int, str]] = (),  # type: ignore[assignment]
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = BLANK + list(services)  # type: ignore[attr-defined]
        self.fields["imaging_hub"].choices = [("", "None"), *hubs]  # type: ignore[attr-defined]


# The questions as dermbridge.vocabulary words them (the FHIR QuestionnaireResponse and the
# letter use the same); the form marks the one optional free-text detail as optional.
HISTORY_LABELS: dict[str, str] = {
    **HISTORY_QUESTIONS,
    "duration_detail": f"{HISTORY_QUESTIONS['duration_detail']} (optional)",
}


class HistoryForm(NhsFormMixin, forms.ModelForm):
    """Every field of the clinical history minimum dataset."""

    class Meta:
        model = ClinicalHistory
        fields = list(HISTORY_LABELS)
        widgets = {name: forms.RadioSelect for name in PRESENCE_FIELDS}
        labels = HISTORY_LABELS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in PRESENCE_FIELDS:
            if name in self.fields:
                self.fields[name].required = False  # unanswered means "Not known"
        for field in self.fields.values():
            if not isinstance(field, forms.ChoiceField):
                continue
            # Radios need no blank choice; selects start with "Choose…".
            choices = [c for c in _choices(field) if c[0] != ""]
            field.choices = (
                choices if isinstance(field.widget, forms.RadioSelect) else BLANK + choices
            )
        self.style_widgets()

    def history_data(self) -> dict[str, Any]:
        # A Yes / No / Not known question left unanswered is "Not known" (its default).
        return {
            name: self.cleaned_data[name] or ("unknown" if name in PRESENCE_FIELDS else "")
            for name in HISTORY_LABELS
        }


class LesionForm(NhsForm):
    body_site_code = forms.ChoiceField(label="Body site", choices=())
    laterality = forms.ChoiceField(
        choices=[("", "Not applicable"), *list(Laterality.choices)], required=False
    )
    size_mm = forms.DecimalField(
        label="Largest diameter in millimetres",
        min_value=0.1,
        max_value=500,
        decimal_places=1,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    description = forms.CharField(widget=forms.Textarea, required=False, max_length=2000)
    pigmented = forms.BooleanField(
        label="The lesion is pigmented (brown, black or blue)", required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body_site_code"].choices = BLANK + body_site_choices()  # type: ignore[attr-defined]
        # app.js draws the front/back body map over this select (it stays the source of truth).
        self.fields["body_site_code"].widget.attrs["data-bodymap"] = "true"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input (Django's documented pattern): cleans to a list."""

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data] or [single(None, initial)]
        return [single(data, initial)]


class ImageUploadForm(NhsForm):
    photos = MultipleFileField(
        label="Photos",
        # On a phone `capture` opens the rear camera; JPEG, PNG and HEIC are accepted.
        widget=MultipleFileInput(attrs={"accept": "image/*", "capture": "environment"}),
        help_text="Take a photo with the camera, or choose several photos of the same type.",
    )
    image_type = forms.ChoiceField(
        label="Type of photo", choices=ImageType.choices, widget=forms.RadioSelect
    )
    dermoscopy_mode = forms.ChoiceField(
        label="Dermoscopy mode (dermoscopic photos only)",
        choices=[("", "Not applicable"), *list(DermoscopyMode.choices)],
        required=False,
    )
