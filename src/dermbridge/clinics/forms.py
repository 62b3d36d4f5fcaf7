"""The hub pages' forms: they parse what was posted; the services decide what is allowed."""

from __future__ import annotations

from django import forms

from dermbridge.clinics.models import VISIT_OUTCOMES, AppointmentStatus, Weekday
from dermbridge.referrals.models import Presence


class SiteForm(forms.Form):
    name = forms.CharField(max_length=120)
    address = forms.CharField(widget=forms.Textarea)


class _Times(forms.Form):
    start = forms.TimeField()
    end = forms.TimeField()
    slot_minutes = forms.IntegerField(min_value=5, max_value=240, initial=15)
    capacity = forms.IntegerField(min_value=1, max_value=20, initial=1)
    site = forms.IntegerField()
    photographers = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=())

    def __init__(self, *args: object, people: list[tuple[int, str]] = (), **kwargs: object) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["photographers"].choices = people  # type: ignore[attr-defined]


class SessionForm(_Times):
    day = forms.DateField()


class TemplateForm(_Times):
    weekday = forms.TypedChoiceField(coerce=int, choices=Weekday.choices)


class GenerateForm(forms.Form):
    weeks = forms.IntegerField(min_value=1, max_value=26, initial=4)


class ClosureForm(forms.Form):
    day = forms.DateField()
    reason = forms.CharField(max_length=200)
    site = forms.IntegerField(required=False)


class BookForm(forms.Form):
    """A chosen slot, or a site whose earliest free slot is taken."""

    slot = forms.IntegerField(required=False)
    site = forms.IntegerField(required=False)


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=300)


class VisitForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[(s.value, s.label) for s in VISIT_OUTCOMES if isinstance(s, AppointmentStatus)]
    )
    reason = forms.CharField(max_length=300, required=False)


class DayForm(forms.Form):
    date = forms.DateField(required=False)
    site = forms.IntegerField(required=False)
    photographer = forms.IntegerField(required=False)


class IdentityForm(forms.Form):
    """Each of the three checked with the patient (the service says which are missing)."""

    name = forms.BooleanField(required=False)
    date_of_birth = forms.BooleanField(required=False)
    nhs_number = forms.BooleanField(required=False)


# A consent answer is a yes or a no: Presence's two answers, read from its one definition.
YES_NO = [(p.value, p.label) for p in (Presence.YES, Presence.NO)]


class ConsentForm(forms.Form):
    """Yes or no for each scope (the service names any left unanswered)."""

    care = forms.ChoiceField(choices=YES_NO, required=False)
    teaching = forms.ChoiceField(choices=YES_NO, required=False)
    research = forms.ChoiceField(choices=YES_NO, required=False)


class ExtraLesionForm(forms.Form):
    body_site_code = forms.CharField(max_length=20, required=False)
    laterality = forms.CharField(max_length=10, required=False)
    size_mm = forms.CharField(max_length=10, required=False)
    description = forms.CharField(max_length=2000, required=False)
    pigmented = forms.BooleanField(required=False)
    reason = forms.CharField(max_length=300, required=False)


class SendToHubForm(forms.Form):
    hub = forms.IntegerField(required=False)
    reason = forms.CharField(max_length=2000, required=False)
