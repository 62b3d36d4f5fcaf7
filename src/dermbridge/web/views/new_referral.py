"""Starting a referral: the patient (looked up from the NHS number), consent, pathway, question,
the history the pathway needs and the first lesion on one short page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from dermbridge.accounts.models import Organisation, OrganisationKind
from dermbridge.core.errors import DomainError
from dermbridge.patients.models import ConsentScope
from dermbridge.referrals import services
from dermbridge.referrals.models import Referral
from dermbridge.web.forms import HistoryForm, LesionForm, PatientForm, ReferralForm
from dermbridge.web.views.common import acting_user, error_items
from dermbridge.web.views.referring import (
    _referral_targets,
    keep_post_through_sign_in,
    service_error_lines,
    starting_orgs,
    take_unsaved_post,
)


def _default_service(org: Organisation) -> int | None:
    """The only dermatology service, or the one this practice referred to last."""
    service_ids = list(
        Organisation.objects.filter(kind=OrganisationKind.DERMATOLOGY_SERVICE).values_list(
            "pk", flat=True
        )[:2]
    )
    if len(service_ids) == 1:
        return service_ids[0]
    last = (
        Referral.objects.filter(referring_org=org).order_by("-created_at").values("service_id")
    ).first()
    return last["service_id"] if last else None


def _quiet(*forms_: Any) -> None:
    """Keep what was typed but report nothing yet (the 'Find patient' step checks only the
    NHS number; the rest is checked when the draft is saved)."""
    from django.forms.utils import ErrorDict

    for form in forms_:
        form._errors = ErrorDict()
        form.cleaned_data = {}


@keep_post_through_sign_in
def new_referral(request: HttpRequest) -> HttpResponse:
    """Patient (looked up from the NHS number), consent, pathway, question, the history the
    pathway needs and the first lesion on one short page; photos come next."""
    from django import forms
    from django.core.exceptions import ValidationError

    from dermbridge.patients import demographics

    user = acting_user(request)
    orgs = starting_orgs(user)
    if not orgs:
        raise Http404("You do not refer for any practice.")
    # A form posted after the session ended is shown again, filled in, not yet saved.
    kept = take_unsaved_post(request) if request.method != "POST" else None
    data = request.POST if request.method == "POST" else kept
    op = request.POST.get("op", "save") if request.method == "POST" else ""
    org = orgs[0]
    if len(orgs) > 1 and data is not None:
        org = next((o for o in orgs if str(o.pk) == data.get("referring_org")), orgs[0])
    found = None
    looked_up = False
    nhs_typed = str(data.get("patient-nhs_number", "") if data is not None else "").strip()
    if nhs_typed:
        try:
            found = demographics.find(user, org, nhs_typed)
            looked_up = True
        except ValidationError:
            pass  # the form says what is wrong with it
    patient_form = PatientForm(data, prefix="patient", found=found)
    referral_form = ReferralForm(
        data, initial={"service": _default_service(org)}, **_referral_targets(request)
    )
    if len(orgs) > 1:
        referral_form.fields["referring_org"] = forms.TypedChoiceField(
            label="Referring on behalf of", coerce=int, choices=[(o.pk, o.name) for o in orgs]
        )
        referral_form.style_widgets()
    history_form = HistoryForm(data, prefix="history")
    lesion_form = LesionForm(data, prefix="lesion")
    all_forms = [patient_form, referral_form, history_form, lesion_form]
    extra: list[str] = []
    if op == "find":
        patient_form.is_valid()
        errors = patient_form.errors.get("nhs_number")
        _quiet(patient_form, referral_form, history_form, lesion_form)
        if errors:
            patient_form.add_error("nhs_number", errors)
    elif kept is None and data is not None and all(f.is_valid() for f in all_forms):
        r = referral_form.cleaned_data
        hub_id = r.get("imaging_hub")
        try:
            referral = services.start_referral(
                user=user,
                referring_org=org,
                patient_details=patient_form.patient_details(),
                consent_direct_care=patient_form.cleaned_data["consent_direct_care"],
                kind=r["kind"],
                service=Organisation.objects.get(pk=r["service"]),
                imaging_hub=Organisation.objects.get(pk=hub_id) if hub_id else None,
                clinical_question=r["clinical_question"],
                history=history_form.history_data(),
                lesions=[lesion_form.cleaned_data],
            )
        except DomainError as exc:
            targets = [
                ("", patient_form),
                ("", referral_form),
                ("history", history_form),
                ("lesions", lesion_form),
            ]
            extra = service_error_lines(targets, exc)
        else:
            messages.success(request, f"Draft {referral.reference} saved. Now add the photos.")
            lesion = referral.lesions.order_by("number").first()
            if lesion is None:
                return redirect("referral-edit", pk=referral.pk)
            return redirect("lesion-photos", pk=referral.pk, lesion_pk=lesion.pk)
    for form in all_forms:
        form.mark_errors()  # type: ignore[attr-defined]
    has_consent = False
    if found is not None and found.patient_id:
        from dermbridge.patients.models import Patient

        patient = Patient.objects.filter(pk=found.patient_id).first()
        has_consent = bool(patient and patient.consent_for(ConsentScope.DIRECT_CARE))
    new_patient_errors = any(
        n in patient_form.errors
        for n in ("given_name", "family_name", "date_of_birth", "email", "mobile")
    )
    return render(
        request,
        "web/referral_new.html",
        {
            "patient_form": patient_form,
            "referral_form": referral_form,
            "history_form": history_form,
            "lesion_form": lesion_form,
            "found": found,
            "not_found": looked_up and found is None,
            "new_patient_open": (looked_up and found is None) or new_patient_errors,
            "has_consent": has_consent,
            "org": org,
            "error_list": error_items(*all_forms, extra=extra),
            "restored": kept is not None,
        },
    )
