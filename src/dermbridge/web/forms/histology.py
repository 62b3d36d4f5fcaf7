"""The service's histology page: one pathology report for one lesion (issue #14 item 4)."""

from __future__ import annotations

from typing import Any

from django import forms

from dermbridge.referrals.models import Margins
from dermbridge.referrals.terminology import grouped_diagnosis_choices
from dermbridge.web.forms.base import BLANK, NhsForm


class HistologyForm(NhsForm):
    report_identifier = forms.CharField(
        label="Laboratory report number", max_length=64, help_text="As printed on the report."
    )
    laboratory = forms.CharField(label="Laboratory", max_length=200)
    reported_on = forms.DateField(
        label="Date of the report",
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    morphology_code = forms.ChoiceField(label="Histology diagnosis (SNOMED CT)", choices=())
    margins = forms.ChoiceField(label="Margins", choices=Margins.choices, widget=forms.RadioSelect)
    margin_mm = forms.DecimalField(
        label="Narrowest margin in mm (optional)",
        required=False,
        min_value=0,
        max_digits=5,
        decimal_places=1,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    report_text = forms.CharField(
        label="Report", widget=forms.Textarea(attrs={"rows": 6}), max_length=20000
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["morphology_code"].choices = BLANK + grouped_diagnosis_choices()  # type: ignore[attr-defined]
        self.fields["morphology_code"].widget.attrs["data-filterable"] = "true"
