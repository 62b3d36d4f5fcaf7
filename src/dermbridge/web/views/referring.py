"""Pages for referring practices and imaging hubs: their referrals, new referral, drafts, photos."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from dermbridge.accounts.models import Organisation, OrganisationKind, Role, User
from dermbridge.audit.services import record
from dermbridge.imaging import services as imaging
from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.interop import services as interop_services
from dermbridge.patients.models import ConsentScope
from dermbridge.patients.services import record_consent
from dermbridge.referrals import services, workflow
from dermbridge.referrals.errors import ReferralError
from dermbridge.referrals.models import Lesion, Referral, State
from dermbridge.web.forms import (
    HistoryForm,
    ImageUploadForm,
    LesionForm,
    PatientForm,
    ReferralForm,
    apply_service_errors,
)
from dermbridge.web.views.common import acting_user, error_items, visible_referral

CAPTURE_ROLES = (Role.REFERRER, Role.PHOTOGRAPHER)
NEEDS_ACTION = (State.DRAFT, State.MORE_INFO_REQUESTED)
ANSWERED = (State.ADVICE_GIVEN, State.TRIAGED, State.CLOSED, State.WITHDRAWN)
LIST_LIMIT = 50


def starting_orgs(user: User) -> list[Organisation]:
    """Where this user may start a referral that can then be sent: as a referrer at a practice
    or hub, or as a photographer at a GP practice (whose referrers send it). A hub photographer
    only photographs referrals a practice started: a draft started at a hub with no referrer
    there could never be sent."""
    referrer_at = user.organisation_ids(Role.REFERRER)
    photographer_at = user.organisation_ids(Role.PHOTOGRAPHER)
    return list(
        Organisation.objects.filter(
            Q(
                pk__in=referrer_at,
                kind__in=(OrganisationKind.GP_PRACTICE, OrganisationKind.IMAGING_HUB),
            )
            | Q(pk__in=photographer_at, kind=OrganisationKind.GP_PRACTICE)
        )
    )


@login_required
def my_referrals(request: HttpRequest) -> HttpResponse:
    """The practice's or hub's referrals: what needs doing, what was sent, what was answered."""
    user = acting_user(request)
    org_ids = user.organisation_ids(*CAPTURE_ROLES)
    if not org_ids:
        raise Http404("You do not refer or take photos for any organisation.")
    rows = list(
        Referral.objects.visible_to(user)
        .filter(Q(referring_org_id__in=org_ids) | Q(imaging_hub_id__in=org_ids))
        .select_related("patient", "service")
        .order_by("-created_at")
    )
    groups = [
        ("Needs your action", "needs-action", [r for r in rows if r.state in NEEDS_ACTION]),
        ("Sent", "sent", [r for r in rows if r.state not in NEEDS_ACTION + ANSWERED]),
        ("Answered", "answered", [r for r in rows if r.state in ANSWERED][:LIST_LIMIT]),
    ]
    record(
        user,
        "referral.list",
        object_type="referrals.referral",
        detail={"page": "my_referrals", "count": len(rows)},
    )
    return render(request, "web/my_referrals.html", {"groups": groups})


def _referral_targets(request: HttpRequest) -> dict[str, Any]:
    services_qs = Organisation.objects.filter(kind=OrganisationKind.DERMATOLOGY_SERVICE)
    hubs = Organisation.objects.filter(kind=OrganisationKind.IMAGING_HUB)
    return {
        "services": [(o.pk, o.name) for o in services_qs],
        "hubs": [(o.pk, o.name) for o in hubs],
    }


@login_required
def new_referral(request: HttpRequest) -> HttpResponse:
    """Patient, consent, pathway, question, history and the first lesion on one page."""
    user = acting_user(request)
    orgs = starting_orgs(user)
    if not orgs:
        raise Http404("You do not refer for any practice.")
    data = request.POST if request.method == "POST" else None
    patient_form = PatientForm(data, prefix="patient")
    referral_form = ReferralForm(data, **_referral_targets(request))
    if len(orgs) > 1:
        from django import forms

        referral_form.fields["referring_org"] = forms.TypedChoiceField(
            label="Referring on behalf of", coerce=int, choices=[(o.pk, o.name) for o in orgs]
        )
        referral_form.style_widgets()
    history_form = HistoryForm(data, prefix="history")
    lesion_form = LesionForm(data, prefix="lesion")
    all_forms = [patient_form, referral_form, history_form, lesion_form]
    extra: list[str] = []
    if data is not None and all(f.is_valid() for f in all_forms):
        p, r = patient_form.cleaned_data, referral_form.cleaned_data
        org = next(o for o in orgs if o.pk == r.get("referring_org", orgs[0].pk))
        details = {k: v for k, v in p.items() if k != "consent_direct_care"}
        hub_id = r.get("imaging_hub")
        try:
            referral = services.start_referral(
                user=user,
                referring_org=org,
                patient_details=details,
                consent_direct_care=p["consent_direct_care"],
                kind=r["kind"],
                service=Organisation.objects.get(pk=r["service"]),
                imaging_hub=Organisation.objects.get(pk=hub_id) if hub_id else None,
                clinical_question=r["clinical_question"],
                history=history_form.history_data(),
                lesions=[lesion_form.cleaned_data],
            )
        except ReferralError as exc:
            targets = [
                ("", patient_form),
                ("", referral_form),
                ("history", history_form),
                ("lesions", lesion_form),
            ]
            extra = apply_service_errors(targets, exc.field_errors) or [exc.message]
        else:
            messages.success(request, f"Draft {referral.reference} saved. Now add the photos.")
            lesion = referral.lesions.order_by("number").first()
            if lesion is None:
                return redirect("referral-edit", pk=referral.pk)
            return redirect("lesion-photos", pk=referral.pk, lesion_pk=lesion.pk)
    for form in all_forms:
        form.mark_errors()  # type: ignore[attr-defined]
    return render(
        request,
        "web/referral_new.html",
        {
            "patient_form": patient_form,
            "referral_form": referral_form,
            "history_form": history_form,
            "lesion_form": lesion_form,
            "error_list": error_items(*all_forms, extra=extra),
        },
    )


def _editable_referral(request: HttpRequest, pk: int) -> Referral:
    referral = visible_referral(request, pk)
    if not workflow.is_capturer(acting_user(request), referral):
        raise Http404("Only the referring practice or its imaging hub edits a referral.")
    return referral


def _lesions_with_images(referral: Referral) -> list[Lesion]:
    images = Prefetch("images", queryset=LesionImage.objects.order_by("uploaded_at", "id"))
    return list(referral.lesions.prefetch_related(images).order_by("number"))


def _render_edit(
    request: HttpRequest,
    referral: Referral,
    *,
    referral_form: ReferralForm | None = None,
    history_form: HistoryForm | None = None,
    lesion_form: LesionForm | None = None,
    extra: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    is_draft = referral.state == State.DRAFT
    if referral_form is None:
        referral_form = ReferralForm(
            initial={
                "kind": referral.kind,
                "clinical_question": referral.clinical_question,
                "service": referral.service_id,
            },
            **_referral_targets(request),
        )
    if history_form is None:
        history_form = HistoryForm(instance=getattr(referral, "history", None), prefix="history")
    lesion_form = lesion_form or LesionForm(prefix="lesion")
    lesions = _lesions_with_images(referral)
    labels = dict(ImageType.choices)
    lesion_rows = []
    for lesion in lesions:
        image_set = imaging.lesion_image_set(lesion, referral.service, referral.kind)
        missing = [labels[t].lower() for t in image_set["missing"]]  # type: ignore[attr-defined]
        lesion_rows.append((lesion, image_set, missing))
    services.view_referral(referral, user=acting_user(request), what="referral.edit_view")
    return render(
        request,
        "web/referral_edit.html",
        {
            "referral": referral,
            "is_draft": is_draft,
            "referral_form": referral_form,
            "history_form": history_form,
            "lesion_form": lesion_form,
            "lesion_rows": lesion_rows,
            "has_consent": referral.patient.consent_for(ConsentScope.DIRECT_CARE),
            "can_submit": workflow.is_referrer(acting_user(request), referral),
            "problems": services.submission_problems(referral) if is_draft else [],
            "error_list": error_items(referral_form, history_form, lesion_form, extra=extra or []),
        },
        status=status,
    )


@login_required
def edit_referral(request: HttpRequest, pk: int) -> HttpResponse:
    """Resume a draft (or answer a request for more information): question, pathway, history."""
    referral = _editable_referral(request, pk)
    if referral.state not in (State.DRAFT, State.MORE_INFO_REQUESTED):
        return redirect("referral-detail", pk=referral.pk)
    if request.method != "POST":
        return _render_edit(request, referral)
    is_draft = referral.state == State.DRAFT
    # After a request for more information only the history can change: the pathway and
    # question fields are not shown, so they are not bound (and cannot report errors).
    referral_form = ReferralForm(request.POST if is_draft else None, **_referral_targets(request))
    referral_form.fields["service"].required = False
    history_form = HistoryForm(request.POST, prefix="history")
    extra: list[str] = []
    forms_ok = history_form.is_valid() and (not is_draft or referral_form.is_valid())
    if forms_ok:
        try:
            services.update_draft(
                referral,
                user=acting_user(request),
                kind=referral_form.cleaned_data["kind"] if is_draft else None,
                clinical_question=referral_form.cleaned_data["clinical_question"]
                if is_draft
                else None,
                history=history_form.history_data(),
            )
        except ReferralError as exc:
            extra = apply_service_errors([("history", history_form)], exc.field_errors) or [
                exc.message
            ]
        else:
            messages.success(request, "Draft saved. You can come back to it at any time.")
            return redirect("referral-edit", pk=referral.pk)
    referral_form.mark_errors()
    history_form.mark_errors()
    return _render_edit(
        request, referral, referral_form=referral_form, history_form=history_form, extra=extra
    )


@login_required
@require_POST
def add_lesion(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _editable_referral(request, pk)
    form = LesionForm(request.POST, prefix="lesion")
    extra: list[str] = []
    if form.is_valid():
        try:
            lesion = services.add_lesion(referral, user=acting_user(request), **form.cleaned_data)
        except ReferralError as exc:
            extra = apply_service_errors([("lesions", form)], exc.field_errors) or [exc.message]
        else:
            messages.success(request, f"Lesion {lesion.number} added. Now add its photos.")
            return redirect("lesion-photos", pk=referral.pk, lesion_pk=lesion.pk)
    form.mark_errors()
    return _render_edit(request, referral, lesion_form=form, extra=extra)


@login_required
@require_POST
def record_direct_care_consent(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _editable_referral(request, pk)
    if request.POST.get("consent_direct_care") != "on":
        return _render_edit(
            request, referral, extra=["Tick the box to confirm the patient has agreed."]
        )
    record_consent(
        user=acting_user(request),
        patient=referral.patient,
        scope=ConsentScope.DIRECT_CARE,
        granted=True,
        note="Recorded on a draft",
    )
    messages.success(request, "Consent recorded.")
    return redirect("referral-edit", pk=referral.pk)


@login_required
@require_POST
def submit_referral(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _editable_referral(request, pk)
    try:
        services.submit_referral(referral, user=acting_user(request))
    except ReferralError as exc:
        problems = exc.field_errors.get("referral") or [exc.message]
        return _render_edit(request, referral, extra=problems)
    messages.success(request, f"Referral {referral.reference} sent to {referral.service.name}.")
    return redirect("referral-detail", pk=referral.pk)


@login_required
@require_POST
def delete_draft(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _editable_referral(request, pk)
    try:
        services.delete_draft(referral, user=acting_user(request))
    except ReferralError as exc:
        messages.error(request, exc.message)
        return redirect("referral-detail", pk=referral.pk)
    messages.success(request, "Draft deleted.")
    return redirect("my-referrals")


def _render_photos(
    request: HttpRequest,
    referral: Referral,
    lesion: Lesion,
    form: ImageUploadForm,
    extra: list[str] | None = None,
) -> HttpResponse:
    lesion = next(x for x in _lesions_with_images(referral) if x.pk == lesion.pk)
    editable = referral.state in (State.DRAFT, State.MORE_INFO_REQUESTED)
    image_set = imaging.lesion_image_set(lesion, referral.service, referral.kind)
    missing: list[str] = image_set["missing"]  # type: ignore[assignment]
    if not form.is_bound and missing:
        form.initial["image_type"] = missing[0]  # guide the photographer to the next photo
    form.mark_errors()
    services.view_referral(referral, user=acting_user(request), what="referral.photos_view")
    from dermbridge.imaging import quality_review

    required: list[str] = image_set["required"]  # type: ignore[assignment]
    photos, checklist = quality_review.photo_page(lesion, required)
    return render(
        request,
        "web/lesion_photos.html",
        {
            "referral": referral,
            "lesion": lesion,
            "images": list(lesion.images.all()),
            "photos": photos,
            "checklist": checklist,
            "must_act": sum(1 for _, r in photos if r.needs_action),
            "image_set": image_set,
            "form": form,
            "editable": editable,
            "error_list": error_items(form, extra=extra or []),
        },
    )


@login_required
def lesion_photos(request: HttpRequest, pk: int, lesion_pk: int) -> HttpResponse:
    """Upload photos of one lesion and see each one's checks and the set still needed."""
    referral = _editable_referral(request, pk)
    lesion = get_object_or_404(Lesion, pk=lesion_pk, referral=referral)
    if request.method != "POST":
        return _render_photos(request, referral, lesion, ImageUploadForm())
    form = ImageUploadForm(request.POST, request.FILES)
    extra: list[str] = []
    if form.is_valid():
        try:
            # A hospital camera's DICOM object is accepted beside photos (content decides).
            uploaded = interop_services.accept_photos_or_dicom(
                lesion,
                user=acting_user(request),
                files=form.cleaned_data["photos"],
                image_type=form.cleaned_data["image_type"],
                dermoscopy_mode=form.cleaned_data["dermoscopy_mode"],
            )
        except ReferralError as exc:
            form.add_error("photos", exc.message)
        else:
            count = len(uploaded)
            messages.success(
                request,
                f"{count} photo{'s' if count > 1 else ''} uploaded. Each is being checked; "
                "refresh this page to see the result.",
            )
            return redirect("lesion-photos", pk=referral.pk, lesion_pk=lesion.pk)
    return _render_photos(request, referral, lesion, form, extra)


@login_required
@require_POST
def delete_photo(request: HttpRequest, pk: int, image_pk: int) -> HttpResponse:
    referral = _editable_referral(request, pk)
    image = get_object_or_404(LesionImage, pk=image_pk, lesion__referral=referral)
    try:
        imaging.delete_image(image, user=acting_user(request))
    except ReferralError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Photo removed.")
    return redirect("lesion-photos", pk=referral.pk, lesion_pk=image.lesion_id)


@login_required
@require_POST
def keep_photo(request: HttpRequest, pk: int, image_pk: int) -> HttpResponse:
    """'Keep this photo': the photographer has read its quality warnings and sends it anyway."""
    from dermbridge.imaging import quality_review

    referral = _editable_referral(request, pk)
    image = get_object_or_404(LesionImage, pk=image_pk, lesion__referral=referral)
    try:
        quality_review.keep_photo(image, user=acting_user(request))
    except ReferralError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{image.get_image_type_display()} photo kept.")
    return redirect("lesion-photos", pk=referral.pk, lesion_pk=image.lesion_id)
