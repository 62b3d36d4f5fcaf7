"""What the dermatology service answers, and how it filters its worklist."""

from __future__ import annotations

from typing import Any

from django import forms

from dermbridge.referrals.models import (
    WORKLIST_STATES,
    Lesion,
    Management,
    PathwayDecision,
    PatientToldMethod,
    ReferralKind,
    TargetStatus,
)
from dermbridge.referrals.terminology import grouped_diagnosis_choices
from dermbridge.triage.display import worklist_band_choices
from dermbridge.web.forms.base import BLANK, NhsForm


class OutcomeForm(NhsForm):
    """The referral's texts and decision; each lesion's answer is a LesionOutcomeForm."""

    management_plan = forms.CharField(label="Management plan", widget=forms.Textarea)
    advice_to_referrer = forms.CharField(label="Advice to the referrer", widget=forms.Textarea)
    patient_explanation = forms.CharField(
        label="Explanation for the patient, in plain English",
        widget=forms.Textarea,
        help_text="Cover every lesion. Say 'likely' or 'suspected' until a biopsy confirms it.",
    )
    # A select, not radios, its first choice saying what leaving it does: the lesions' answers
    # above it must leave Record in view at 1440x900 (browser/test_review_screen.py).
    pathway_decision = forms.ChoiceField(
        label="Where the patient goes next",
        choices=PathwayDecision.choices,
        required=False,
    )

    def __init__(self, *args: Any, advice_only: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        decision = self.fields["pathway_decision"]
        if advice_only:
            decision.choices = [(PathwayDecision.ADVICE.value, PathwayDecision.ADVICE.label)]  # type: ignore[attr-defined]
            decision.initial = PathwayDecision.ADVICE
        else:
            decision.choices = [("", "Follow the most urgent lesion")] + [  # type: ignore[attr-defined]
                c for c in PathwayDecision.choices if c[0] != PathwayDecision.ADVICE
            ]


class LesionOutcomeForm(NhsForm):
    """One lesion's answer on the review page (prefix ``lesion-<number>``): diagnosis, up to
    three ranked differentials, management, and the review date when it is monitored."""

    diagnosis_code = forms.ChoiceField(label="Diagnosis", choices=())
    differential_1 = forms.ChoiceField(label="First differential (optional)", required=False)
    differential_2 = forms.ChoiceField(label="Second differential (optional)", required=False)
    differential_3 = forms.ChoiceField(label="Third differential (optional)", required=False)
    management = forms.ChoiceField(label="Management", choices=())
    review_date = forms.DateField(
        label="Review date (if monitored)",
        required=False,
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(
        self, *args: Any, lesion: Lesion, advice_only: bool = False, **kwargs: Any
    ) -> None:
        kwargs.setdefault("prefix", f"lesion-{lesion.number}")
        super().__init__(*args, **kwargs)
        self.lesion = lesion
        choices = BLANK + grouped_diagnosis_choices()
        for name in ("diagnosis_code", "differential_1", "differential_2", "differential_3"):
            self.fields[name].choices = choices  # type: ignore[attr-defined]
        # app.js adds a search box that filters this long SNOMED CT list as the user types.
        self.fields["diagnosis_code"].widget.attrs["data-filterable"] = "true"
        allowed = [
            c
            for c in Management.choices
            if not advice_only or c[0] in (Management.DISCHARGE, Management.MONITOR)
        ]
        self.fields["management"].choices = BLANK + allowed  # type: ignore[attr-defined]

    @property
    def legend(self) -> str:
        return f"Lesion {self.lesion.number}: {self.lesion.body_site_label}" + (
            f" ({self.lesion.get_laterality_display().lower()})" if self.lesion.laterality else ""
        )

    def service_data(self) -> dict[str, Any]:
        """This lesion's answer as the referral service takes it."""
        data = self.cleaned_data
        return {
            "lesion": self.lesion.number,
            "diagnosis_code": data["diagnosis_code"],
            "differential": [
                data[f"differential_{i}"] for i in (1, 2, 3) if data.get(f"differential_{i}")
            ],
            "management": data["management"],
            "review_date": data.get("review_date"),
        }


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
        choices=PatientToldMethod.choices,
    )


class WorklistFilterForm(NhsForm):
    kind = forms.ChoiceField(
        choices=[("", "All pathways"), *list(ReferralKind.choices)], required=False, label="Pathway"
    )
    state = forms.ChoiceField(
        choices=[("", "All open"), *((s.value, s.label) for s in WORKLIST_STATES)],
        required=False,
    )
    breach = forms.ChoiceField(
        label="Target",
        choices=[("", "Any"), *TargetStatus.choices],
        required=False,
    )
    ai_band = forms.ChoiceField(
        label="AI risk",
        # high, intermediate, low, "AI declined to assess", "No dermoscopic photo".
        choices=[("", "Any"), *worklist_band_choices()],
        required=False,
    )
    mine = forms.BooleanField(label="Only cases I am reviewing", required=False)
