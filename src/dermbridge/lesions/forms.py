"""The dermatologist's link decision and the review date."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

NEW = "new"


class LinkForm(forms.Form):
    patient_lesion = forms.ChoiceField(
        label="Which of the patient's lesions is this?",
        widget=forms.RadioSelect(attrs={"class": "nhsuk-radios__input"}),
        error_messages={"required": "Choose one of the patient's lesions, or say it is new."},
    )
    reason = forms.CharField(
        label="Reason (optional)",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2, "class": "nhsuk-textarea"}),
        help_text="Shown to other dermatologists with the link. Up to 300 characters.",
        error_messages={
            "max_length": "Reason must be 300 characters or fewer (it has %(show_value)d)."
        },
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["patient_lesion"].choices = [*choices, (NEW, "A new lesion, not seen before")]  # type: ignore[attr-defined]


class MonitorForm(forms.Form):
    monitor_until = forms.DateField(
        label="Photograph again by",
        required=False,
        widget=forms.DateInput(
            attrs={"type": "date", "class": "nhsuk-input nhsuk-input--width-10"}
        ),
        help_text="The date by which new photos are due. Leave it empty to stop monitoring.",
        error_messages={"invalid": "Enter the review date as a real date, for example 2027-03-31."},
    )

    def clean_monitor_until(self) -> dt.date | None:
        return self.cleaned_data.get("monitor_until")
