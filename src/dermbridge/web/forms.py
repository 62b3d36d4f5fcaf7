"""Forms for the pages: they check the shape of what was typed; the services check the rules.

Every widget gets the NHS.UK design system classes here, so templates only lay fields out.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorList

from dermbridge.imaging.models import DermoscopyMode, ImageType
from dermbridge.patients.models import ContactPreference, Fitzpatrick, Sex
from dermbridge.referrals.models import (
    PRESENCE_FIELDS,
    ClinicalHistory,
    Laterality,
    PathwayDecision,
    ReferralKind,
)
from dermbridge.referrals.terminology import body_site_choices, grouped_diagnosis_choices
from dermbridge.triage.display import worklist_band_choices

BLANK = [("", "Choose…")]


def field_name(field: forms.Field, name: str) -> str:
    """The field's name as the page shows it (its label), without a trailing question mark."""
    label = str(field.label or name.replace("_", " ").capitalize())
    return label.rstrip("?:").strip()


def mentions(message: str, label: str) -> bool:
    """Whether an error message already says which field it is about."""
    words = [w for w in label.lower().replace("(", " ").replace(")", " ").split() if len(w) > 3]
    text = message.lower()
    return label.lower() in text or (bool(words) and all(w in text for w in words[:2]))


def required_message(field: forms.Field, name: str) -> str:
    """The NHS pattern: 'Enter …' for what is typed, 'Choose …' for what is picked."""
    label = field_name(field, name)
    lowered = label[0].lower() + label[1:] if label[:2] != label[:2].upper() else label
    if isinstance(field, forms.ChoiceField | forms.BooleanField):
        return f"Choose {lowered}" if not label.endswith("?") else f"Answer '{label}'"
    return f"Enter {lowered}"


def _choices(field: forms.ChoiceField) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in field.choices]  # type: ignore[union-attr, misc]


class NhsFormMixin:
    """Adds the NHS.UK classes (and error classes) to every widget of a form."""

    fields: dict[str, forms.Field]

    def style_widgets(self) -> None:
        for name, field in self.fields.items():
            field.error_messages["required"] = getattr(self, "required_messages", {}).get(
                name, required_message(field, name)
            )
            widget = field.widget
            if isinstance(widget, DateOfBirthWidget):
                continue  # draws its own three inputs
            if isinstance(widget, forms.RadioSelect):
                widget.attrs["class"] = "nhsuk-radios__input"
            elif isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "nhsuk-checkboxes__input"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "nhsuk-select"
            elif isinstance(widget, forms.Textarea):
                widget.attrs.setdefault("rows", 3)
                widget.attrs["class"] = "nhsuk-textarea"
            elif isinstance(widget, forms.FileInput):
                widget.attrs["class"] = "nhsuk-file-upload"
            else:
                widget.attrs["class"] = "nhsuk-input"

    def name_errors(self) -> None:
        """Every error names its field and appears once: a message that does not already say
        which field it is about is prefixed with the field's label (the error summary is read
        on its own), and a message repeated for one field (a form's check and the service's
        own) is kept once."""
        errors = getattr(self, "_errors", None) or {}
        for name in list(errors):
            if name not in self.fields:
                continue
            label = field_name(self.fields[name], name)
            kept: list[str] = []
            for message in errors[name]:
                text = str(message)
                if not mentions(text, label):
                    text = f"{label}: {text[0].lower()}{text[1:]}" if text else label
                if text not in kept:
                    kept.append(text)
            errors[name] = ErrorList(kept)

    def mark_errors(self) -> None:
        """Error classes on fields in error, and each error message tied to its field for
        screen readers (after validation or after a service's field errors were added)."""
        self.name_errors()
        for name in getattr(self, "errors", {}):
            if name not in self.fields:
                continue
            field = self.fields[name]
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxInput):
                continue  # the fieldset / checkbox group carries the error (see field.html)
            if isinstance(widget, DateOfBirthWidget):
                widget.attrs["class"] = "nhsuk-date-input--error"
            base = widget.attrs.get("class", "")
            error_class = f"{base.split()[0]}--error" if base else ""
            if error_class and error_class not in base.split():
                widget.attrs["class"] = f"{base} {error_class}"
            auto_id = self[name].auto_id  # type: ignore[index]
            described = [f"{auto_id}_helptext"] if field.help_text else []
            widget.attrs["aria-describedby"] = " ".join([*described, f"{auto_id}-error"])


class DateOfBirthWidget(forms.Widget):
    """The NHS.UK date input: day, month and year in three boxes (never a browser date
    picker, which is slow for a birth date and reads month-first in some locales). A single
    `name` value (YYYY-MM-DD or DD/MM/YYYY) is still accepted, for API-like posts and tests."""

    PARTS = (("day", "Day", 2), ("month", "Month", 2), ("year", "Year", 4))

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        parts = tuple(str(data.get(f"{name}-{p}", "")).strip() for p, _, _ in self.PARTS)
        if any(parts):
            return parts
        return data.get(name)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and not any(f"{name}-{p}" in data for p, _, _ in self.PARTS)

    def id_for_label(self, id_: str) -> str:
        return f"{id_}-day" if id_ else ""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> Any:
        from django.utils.html import format_html, format_html_join

        attrs = {**self.attrs, **(attrs or {})}
        base_id = attrs.get("id", f"id_{name}")
        error = "--error" in str(attrs.get("class", ""))
        values: tuple[str, ...]
        if isinstance(value, date):
            values = (str(value.day), str(value.month), str(value.year))
        elif isinstance(value, tuple | list):
            values = tuple(str(v) for v in value)
        elif isinstance(value, str) and value:
            parsed = _parse_date_text(value)
            values = (
                (str(parsed.day), str(parsed.month), str(parsed.year)) if parsed else ("", "", "")
            )
        else:
            values = ("", "", "")
        described = attrs.get("aria-describedby", "")
        rows = []
        for (part, label, width), current in zip(self.PARTS, values, strict=True):
            classes = f"nhsuk-input nhsuk-date-input__input nhsuk-input--width-{width}"
            if error:
                classes += " nhsuk-input--error"
            rows.append(
                (
                    f"{base_id}-{part}",
                    label,
                    classes,
                    f"{name}-{part}",
                    current,
                    "bday-" + {"day": "day", "month": "month", "year": "year"}[part],
                    described,
                )
            )
        items = format_html_join(
            "",
            '<div class="nhsuk-date-input__item"><div class="nhsuk-form-group">'
            '<label class="nhsuk-label nhsuk-date-input__label" for="{}">{}</label>'
            '<input class="{}" name="{}" value="{}" type="text" inputmode="numeric" '
            'autocomplete="{}" id="{}"{}></div></div>',
            (
                (i, lab, c, n, v, ac, i, format_html(' aria-describedby="{}"', d) if d else "")
                for i, lab, c, n, v, ac, d in rows
            ),
        )
        return format_html('<div class="nhsuk-date-input" id="{}">{}</div>', base_id, items)


def _parse_date_text(value: str) -> date | None:
    from datetime import datetime

    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


class DateOfBirthField(forms.Field):
    widget = DateOfBirthWidget

    def to_python(self, value: Any) -> date | None:
        if value in (None, "", ()):
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            parsed = _parse_date_text(value)
            if parsed is None:
                raise ValidationError("Date of birth must be a real date, for example 17 5 1960.")
            return parsed
        day, month, year = (str(v) for v in value)
        missing = [n for n, v in zip(("a day", "a month", "a year"), value, strict=True) if not v]
        if missing:
            raise ValidationError(f"Date of birth must include {' and '.join(missing)}.")
        if not (day.isdigit() and month.isdigit() and year.isdigit()) or len(year) != 4:
            raise ValidationError("Date of birth must be a real date, with a 4-digit year.")
        try:
            born = date(int(year), int(month), int(day))
        except ValueError:
            raise ValidationError("Date of birth must be a real date.") from None
        if born > date.today():
            raise ValidationError("Date of birth must be in the past.")
        if born.year < 1880:
            raise ValidationError("Date of birth must be after 1880: check the year.")
        return born


class NhsForm(NhsFormMixin, forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_widgets()


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
        label="Fitzpatrick skin type", choices=BLANK + list(Fitzpatrick.choices), required=False
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


HISTORY_LABELS = {
    "onset": "When did the patient first notice it?",
    "duration_detail": "More about the onset (optional)",
    "multiple_lesions": "More than one lesion?",
    "changed_size": "Changed in size?",
    "changed_shape": "Changed in shape?",
    "changed_colour": "Changed in colour?",
    "bleeding": "Bleeding?",
    "itch": "Itch?",
    "ulceration": "Ulceration?",
    "pain": "Pain?",
    "elevation": "Raised?",
    "personal_history_skin_cancer": "Previous skin cancer?",
    "family_history_skin_cancer": "Family history of skin cancer?",
    "immunosuppressed": "Immunosuppressed?",
    "sun_exposure": "Sun exposure",
    "medications": "Current medicines",
    "allergies": "Allergies",
    "treatments_tried": "Treatments tried",
    "treatment_effect": "Effect of those treatments",
    "other_notes": "Anything else the dermatologist should know",
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


class OutcomeForm(NhsForm):
    diagnosis_code = forms.ChoiceField(label="Diagnosis", choices=())
    management_plan = forms.CharField(label="Management plan", widget=forms.Textarea)
    advice_to_referrer = forms.CharField(label="Advice to the referrer", widget=forms.Textarea)
    patient_explanation = forms.CharField(
        label="Explanation for the patient, in plain English",
        widget=forms.Textarea,
    )
    pathway_decision = forms.ChoiceField(
        label="Where the patient goes next",
        choices=PathwayDecision.choices,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, advice_only: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Grouped (cancer first) so the plain select is easy to scan without JavaScript.
        self.fields["diagnosis_code"].choices = BLANK + grouped_diagnosis_choices()  # type: ignore[attr-defined]
        # app.js adds a search box that filters this long SNOMED CT list as the user types.
        self.fields["diagnosis_code"].widget.attrs["data-filterable"] = "true"
        decision = self.fields["pathway_decision"]
        if advice_only:
            decision.choices = [(PathwayDecision.ADVICE.value, PathwayDecision.ADVICE.label)]  # type: ignore[attr-defined]
            decision.initial = PathwayDecision.ADVICE
        else:
            decision.choices = [  # type: ignore[attr-defined]
                c for c in PathwayDecision.choices if c[0] != PathwayDecision.ADVICE
            ]


class TextForm(NhsForm):
    """One free-text box: a message, a question, a reason."""

    text = forms.CharField(widget=forms.Textarea, max_length=10000)

    def __init__(self, *args: Any, label: str = "Message", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["text"].label = label


class ConvertForm(NhsForm):
    to_kind = forms.ChoiceField(
        label="Convert to",
        widget=forms.RadioSelect,
        choices=[
            (ReferralKind.TRIAGE.value, ReferralKind.TRIAGE.label),
            (ReferralKind.URGENT_CANCER.value, ReferralKind.URGENT_CANCER.label),
        ],
    )
    text = forms.CharField(label="Note (optional)", widget=forms.Textarea, required=False)


class DowngradeForm(NhsForm):
    to_kind = forms.ChoiceField(
        label="Downgrade to",
        widget=forms.RadioSelect,
        choices=[
            (ReferralKind.TRIAGE.value, ReferralKind.TRIAGE.label),
            (ReferralKind.ADVICE.value, ReferralKind.ADVICE.label),
        ],
    )
    text = forms.CharField(label="Clinical reason", widget=forms.Textarea)


class PatientToldForm(NhsForm):
    told_at = forms.DateTimeField(
        label="When the patient was told",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    method = forms.ChoiceField(
        label="How",
        widget=forms.RadioSelect,
        choices=[
            ("face_to_face", "Face to face"),
            ("telephone", "Telephone"),
            ("letter", "Letter"),
            ("video", "Video"),
        ],
    )


class TwoFactorForm(NhsForm):
    token = forms.CharField(
        label="6-digit code from your authenticator app",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*"}
        ),
    )


class WorklistFilterForm(NhsForm):
    kind = forms.ChoiceField(
        choices=[("", "All pathways"), *list(ReferralKind.choices)], required=False, label="Pathway"
    )
    state = forms.ChoiceField(
        choices=[
            ("", "All open"),
            ("awaiting_review", "Awaiting review"),
            ("in_review", "In review"),
            ("converted", "Converted"),
        ],
        required=False,
    )
    breach = forms.ChoiceField(
        label="Target",
        choices=[("", "Any"), ("breached", "Past target"), ("near", "Near target")],
        required=False,
    )
    ai_band = forms.ChoiceField(
        label="AI risk",
        # high, intermediate, low, "AI declined to assess", "No dermoscopic photo".
        choices=[("", "Any"), *worklist_band_choices()],
        required=False,
    )
    mine = forms.BooleanField(label="Only cases I am reviewing", required=False)


def apply_service_errors(
    targets: list[tuple[str, forms.BaseForm]], field_errors: dict[str, list[str]]
) -> list[str]:
    """Attach a service's field errors to the matching form fields; return the unmatched ones.

    Service keys look like `nhs_number`, `history.onset` or `lesions[1].body_site_code`;
    `targets` pairs each form with the key prefix ('', 'history', 'lesions') it answers for.
    """
    unmatched: list[str] = []
    for key, messages in field_errors.items():
        prefix, _, name = key.rpartition(".")
        prefix = prefix.split("[")[0]
        form = next((f for p, f in targets if p == prefix and name in f.fields), None)
        if form is None:
            unmatched.extend(messages)
            continue
        for message in messages:
            form.add_error(name, message)
    for _, form in targets:
        if isinstance(form, NhsFormMixin):
            form.mark_errors()
    return unmatched
