"""Pages for referring practices and imaging hubs: their referrals, new referral, drafts, photos."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dermbridge.accounts.models import Organisation, OrganisationKind, Role, User
from dermbridge.audit.services import record
from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.imaging import services as imaging
from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.patients.models import ConsentScope
from dermbridge.referrals import permissions, services, workflow
from dermbridge.referrals.models import Lesion, Referral, State
from dermbridge.web.forms import (
    HistoryForm,
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
# A form posted after the session ended, kept through signing in again (see docs/ui.md).
UNSAVED_KEY = "dermbridge_unsaved_post"
UNSAVED_MAX_AGE = 2 * 3600


def refuse_as_403(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A service's NotPermitted becomes a 403 page (the rule table said no to this role)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotPermitted as exc:
            raise PermissionDenied(exc.message) from None

    return wrapper


def keep_post_through_sign_in(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`login_required` that loses nothing: a form posted after the session ended is kept in
    the (new, anonymous) session, and after signing in again the same page shows it, filled
    in and not yet saved, for the user to check and save. See docs/ui.md."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.method == "POST":
            data = {
                key: request.POST.getlist(key)
                for key in request.POST
                if key not in ("csrfmiddlewaretoken", "_once", "op")
            }
            request.session[UNSAVED_KEY] = {"path": request.path, "data": data, "at": time.time()}
            messages.warning(
                request,
                "You were signed out before your changes were saved. Sign in again: your "
                "changes will be shown for you to check and save.",
            )
        return redirect_to_login(request.path)

    return wrapper


def take_unsaved_post(request: HttpRequest) -> QueryDict | None:
    """What was posted to this page when the session had ended, if recent (then forgotten)."""
    kept = request.session.get(UNSAVED_KEY)
    if not kept or kept.get("path") != request.path:
        return None
    del request.session[UNSAVED_KEY]
    if time.time() - float(kept.get("at", 0)) > UNSAVED_MAX_AGE:
        return None
    data = QueryDict(mutable=True)
    for key, values in kept["data"].items():
        data.setlist(key, values)
    return data


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


def service_error_lines(targets: list[tuple[str, Any]], exc: DomainError) -> list[str]:
    """A service's refusal shown once: its field errors beside their fields (and in the
    summary, linked), its message only when no field took it."""
    unmatched = apply_service_errors(targets, exc.field_errors)
    if exc.field_errors and not unmatched and any(f.errors for _, f in targets):
        return []
    return unmatched or [exc.message]


def _editable_referral(request: HttpRequest, pk: int) -> Referral:
    """A referral whose capture pages this user may open (the referrer and the photographers
    of the practice or the named hub). What each may do there is the rule table's answer."""
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
    consent_ticked: bool = False,
    extra: list[str] | None = None,
    restored: bool = False,
    status: int = 200,
) -> HttpResponse:
    user = acting_user(request)
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
    can = permissions.can(user, referral)
    has_consent = referral.patient.consent_for(ConsentScope.DIRECT_CARE)
    services.view_referral(referral, user=user, what="referral.edit_view")
    return render(
        request,
        "web/referral_edit.html",
        {
            "referral": referral,
            "is_draft": is_draft,
            "referral_form": referral_form,
            "history_form": history_form,
            "lesion_form": lesion_form,
            "lesion_open": lesion_form.is_bound,
            "lesion_rows": lesion_rows,
            "has_consent": has_consent,
            "consent_ticked": consent_ticked,
            "can": can,
            "can_submit": can["submit"],
            "has_fields": can["edit_history"]
            or (can["record_consent"] and not has_consent)
            or can["edit_question"],
            "restored": restored,
            "problems": services.submission_problems(referral) if is_draft else [],
            "error_list": error_items(referral_form, history_form, lesion_form, extra=extra or []),
        },
        status=status,
    )


def _lesion_posted(data: QueryDict) -> bool:
    """Whether any of the new-lesion fields was filled in (then it is saved with the rest)."""
    return any(
        data.get(f"lesion-{name}", "").strip() not in ("", "None")
        for name in ("body_site_code", "laterality", "size_mm", "description", "pigmented")
    )


def _page_forms(
    request: HttpRequest, referral: Referral, data: QueryDict | None, op: str
) -> tuple[ReferralForm, HistoryForm, LesionForm]:
    """The draft page's forms, each bound only if its fields were posted."""
    posted_question = data is not None and ("clinical_question" in data or "kind" in data)
    if posted_question and referral.state != State.DRAFT:
        # After a request for more information the question and pathway are not on the page
        # (nor can they change): not bound, so they cannot report errors. Only the role is
        # still checked below.
        posted_question = False
    referral_form = ReferralForm(data if posted_question else None, **_referral_targets(request))
    referral_form.fields["service"].required = False
    posted_history = data is not None and any(k.startswith("history-") for k in data)
    history_form = HistoryForm(
        data if posted_history else None,
        prefix="history",
        instance=getattr(referral, "history", None),
    )
    wants_lesion = data is not None and (op == "add_lesion" or _lesion_posted(data))
    lesion_form = LesionForm(data if wants_lesion else None, prefix="lesion")
    return referral_form, history_form, lesion_form


def _check_posted_roles(request: HttpRequest, referral: Referral, data: QueryDict, op: str) -> None:
    """The rule table first: a part of the page this user may not change is refused (403),
    whatever the state and whether or not what was typed is valid."""
    user = acting_user(request)
    asked = [
        ("edit_question", "clinical_question" in data),
        ("edit_pathway", "kind" in data),
        ("edit_history", any(k.startswith("history-") for k in data)),
        ("add_lesion", op == "add_lesion" or _lesion_posted(data)),
        ("record_consent", data.get("consent_direct_care") == "on"),
        ("submit", op == "send"),
    ]
    for action, wanted in asked:
        if wanted and not permissions.may_role(user, action, referral):
            rule = permissions.RULES[action]
            raise NotPermitted(f"Only {rule.who_text} can {rule.label}.")


def _save_page(request: HttpRequest, referral: Referral, data: QueryDict, op: str) -> HttpResponse:
    """Save everything typed on the draft page, then do what the pressed button asks: save,
    add the lesion, or send. Nothing typed is lost: invalid answers are shown again."""
    user = acting_user(request)
    if op != "restore":
        _check_posted_roles(request, referral, data, op)
    referral_form, history_form, lesion_form = _page_forms(request, referral, data, op)
    bound = [f for f in (referral_form, history_form, lesion_form) if f.is_bound]
    consent = data.get("consent_direct_care") == "on"
    if op == "restore":
        for form in bound:
            form.is_valid()
            form.mark_errors()  # type: ignore[attr-defined]
        return _render_edit(
            request,
            referral,
            referral_form=referral_form,
            history_form=history_form,
            lesion_form=lesion_form,
            consent_ticked=consent,
            restored=True,
        )
    if not all(f.is_valid() for f in bound):
        for form in bound:
            form.mark_errors()  # type: ignore[attr-defined]
        return _render_edit(
            request,
            referral,
            referral_form=referral_form,
            history_form=history_form,
            lesion_form=lesion_form,
            consent_ticked=consent,
            extra=["Nothing was saved yet: correct the answers marked below."],
        )
    try:
        lesion = services.save_draft(
            referral,
            user=user,
            kind=referral_form.cleaned_data["kind"] if referral_form.is_bound else None,
            clinical_question=referral_form.cleaned_data["clinical_question"]
            if referral_form.is_bound
            else None,
            history=history_form.history_data() if history_form.is_bound else None,
            consent_direct_care=consent,
            new_lesion=lesion_form.cleaned_data if lesion_form.is_bound else None,
        )
    except NotPermitted:
        raise
    except DomainError as exc:
        targets = [("", referral_form), ("history", history_form), ("lesions", lesion_form)]
        extra = service_error_lines(targets, exc)
        return _render_edit(
            request,
            referral,
            referral_form=referral_form,
            history_form=history_form,
            lesion_form=lesion_form,
            consent_ticked=consent,
            extra=extra,
        )
    if op == "send":
        try:
            services.submit_referral(referral, user=user)
        except NotPermitted:
            raise
        except DomainError as exc:
            problems = exc.field_errors.get("referral") or [exc.message]
            if bound or consent:
                messages.success(request, "Your changes were saved, but it was not sent yet.")
            fresh = Referral.objects.get(pk=referral.pk)
            return _render_edit(request, fresh, extra=problems)
        messages.success(request, f"Referral {referral.reference} sent to {referral.service.name}.")
        return redirect("referral-detail", pk=referral.pk)
    if lesion is not None:
        messages.success(request, f"Lesion {lesion.number} added. Now add its photos.")
        return redirect("lesion-photos", pk=referral.pk, lesion_pk=lesion.pk)
    if referral.state == State.DRAFT:
        messages.success(request, "Draft saved. You can come back to it at any time.")
    else:
        messages.success(request, "Your changes were saved.")
    return redirect("referral-edit", pk=referral.pk)


@keep_post_through_sign_in
@refuse_as_403
def edit_referral(request: HttpRequest, pk: int) -> HttpResponse:
    """The draft page (or answering a request for more information). Every button on it
    posts the whole page here: what was typed is saved first, then the button's step runs."""
    referral = _editable_referral(request, pk)
    op = request.POST.get("op", "save") if request.method == "POST" else "restore"
    if op not in ("save", "send", "add_lesion", "restore"):
        op = "save"
    if request.method == "POST":
        _check_posted_roles(request, referral, request.POST, op)
    if referral.state not in (State.DRAFT, State.MORE_INFO_REQUESTED):
        return redirect("referral-detail", pk=referral.pk)
    if request.method != "POST":
        kept = take_unsaved_post(request)
        if kept is None:
            return _render_edit(request, referral)
        return _save_page(request, referral, kept, "restore")
    return _save_page(request, referral, request.POST, op)


@keep_post_through_sign_in
@require_POST
@refuse_as_403
def add_lesion(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _editable_referral(request, pk)
    form = LesionForm(request.POST, prefix="lesion")
    extra: list[str] = []
    if form.is_valid():
        try:
            lesion = services.add_lesion(referral, user=acting_user(request), **form.cleaned_data)
        except NotPermitted:
            raise
        except DomainError as exc:
            extra = service_error_lines([("lesions", form)], exc)
        else:
            messages.success(request, f"Lesion {lesion.number} added. Now add its photos.")
            return redirect("lesion-photos", pk=referral.pk, lesion_pk=lesion.pk)
    elif not permissions.may_role(acting_user(request), "add_lesion", referral):
        raise NotPermitted("Only the referrer can add a lesion.")
    form.mark_errors()
    return _render_edit(request, referral, lesion_form=form, extra=extra)


@keep_post_through_sign_in
@require_POST
@refuse_as_403
def record_direct_care_consent(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _editable_referral(request, pk)
    if request.POST.get("consent_direct_care") != "on":
        return _render_edit(
            request, referral, extra=["Tick the box to confirm the patient has agreed."]
        )
    try:
        services.record_direct_care_consent(referral, user=acting_user(request))
    except NotPermitted:
        raise
    except DomainError as exc:
        return _render_edit(request, referral, extra=[exc.message])
    messages.success(request, "Consent recorded.")
    return redirect("referral-edit", pk=referral.pk)


@keep_post_through_sign_in
@require_POST
@refuse_as_403
def submit_referral(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the draft; any page fields posted with it are saved first."""
    referral = _editable_referral(request, pk)
    if referral.state not in (State.DRAFT, State.MORE_INFO_REQUESTED):
        try:
            services.submit_referral(referral, user=acting_user(request))
        except NotPermitted:
            raise
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("referral-detail", pk=referral.pk)
    return _save_page(request, referral, request.POST, "send")


def _confirm(
    request: HttpRequest,
    referral: Referral,
    *,
    title: str,
    body: list[str],
    button: str,
    back: str,
    back_label: str,
) -> HttpResponse:
    return render(
        request,
        "web/confirm.html",
        {
            "referral": referral,
            "title": title,
            "body": body,
            "button": button,
            "back": back,
            "back_label": back_label,
        },
    )


@login_required
@refuse_as_403
def delete_draft(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a draft, after a confirmation page (works without JavaScript)."""
    referral = _editable_referral(request, pk)
    user = acting_user(request)
    try:
        permissions.check(user, "delete_draft", referral)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            services.delete_draft(referral, user=user)
        else:
            photos = LesionImage.objects.filter(lesion__referral=referral).count()
            return _confirm(
                request,
                referral,
                title=f"Delete draft {referral.reference}?",
                body=[
                    f"This deletes the draft referral for {referral.patient}, its "
                    f"{referral.lesions.count()} lesion(s) and {photos} photo(s).",
                    "This cannot be undone. The patient's record and consent are kept.",
                ],
                button="Yes, delete this draft",
                back=reverse("referral-edit", args=[referral.pk]),
                back_label="No, go back to the draft",
            )
    except NotPermitted:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("referral-detail", pk=referral.pk)
    messages.success(request, "Draft deleted.")
    return redirect("my-referrals")


def _draft_lesion(request: HttpRequest, pk: int, lesion_pk: int) -> tuple[Referral, Lesion]:
    referral = _editable_referral(request, pk)
    return referral, get_object_or_404(Lesion, pk=lesion_pk, referral=referral)


@keep_post_through_sign_in
@refuse_as_403
def edit_lesion(request: HttpRequest, pk: int, lesion_pk: int) -> HttpResponse:
    """Correct a lesion's site, side, size or description while the referral is a draft."""
    referral, lesion = _draft_lesion(request, pk, lesion_pk)
    user = acting_user(request)
    try:
        permissions.check(user, "edit_lesion", referral)
    except NotPermitted:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("referral-detail", pk=referral.pk)
    initial = {
        "body_site_code": lesion.body_site_code,
        "laterality": lesion.laterality,
        "size_mm": lesion.size_mm,
        "description": lesion.description,
        "pigmented": lesion.pigmented,
    }
    data = request.POST if request.method == "POST" else take_unsaved_post(request)
    form = LesionForm(data, prefix="lesion", initial=initial)
    extra: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            services.update_lesion(lesion, user=user, **form.cleaned_data)
        except NotPermitted:
            raise
        except DomainError as exc:
            extra = service_error_lines([("lesions", form)], exc)
        else:
            messages.success(request, f"Lesion {lesion.number} saved.")
            return redirect("referral-edit", pk=referral.pk)
    form.mark_errors()
    services.view_referral(referral, user=user, what="referral.form_view")
    return render(
        request,
        "web/referral_form.html",
        {
            "referral": referral,
            "form": form,
            "error_list": error_items(form, extra=extra),
            "title": f"Change lesion {lesion.number}",
            "button": "Save lesion",
            "back": reverse("referral-edit", args=[referral.pk]),
        },
    )


@login_required
@refuse_as_403
def remove_lesion(request: HttpRequest, pk: int, lesion_pk: int) -> HttpResponse:
    """Remove a lesion and its photos from a draft, after a confirmation page."""
    referral, lesion = _draft_lesion(request, pk, lesion_pk)
    user = acting_user(request)
    try:
        permissions.check(user, "remove_lesion", referral)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            services.remove_lesion(lesion, user=user)
        else:
            photos = lesion.images.count()
            return _confirm(
                request,
                referral,
                title=f"Remove lesion {lesion.number}?",
                body=[
                    f"Lesion {lesion.number}: {lesion.body_site_label}"
                    f"{f' ({lesion.get_laterality_display().lower()})' if lesion.laterality else ''}"
                    f", with its {photos} photo(s), is removed from this draft.",
                    "The lesions after it are renumbered. This cannot be undone.",
                ],
                button="Yes, remove this lesion",
                back=reverse("referral-edit", args=[referral.pk]),
                back_label="No, keep it",
            )
    except NotPermitted:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("referral-detail", pk=referral.pk)
    messages.success(request, f"Lesion {lesion.number} removed.")
    return redirect("referral-edit", pk=referral.pk)


def _problem_links(referral: Referral, problems: list[str]) -> list[tuple[str, str]]:
    """Each reason the referral cannot be sent, with a link to where it is put right."""
    edit = reverse("referral-edit", args=[referral.pk])
    lesions = {lesion.number: lesion for lesion in referral.lesions.all()}
    rows = []
    for problem in problems:
        href = edit
        if problem.startswith("Add the question"):
            href = f"{edit}#id_clinical_question"
        elif "Changed in" in problem:
            name = problem.split("Changed in ")[1].split("?")[0].strip()
            href = f"{edit}#id_history-changed_{name}_0"
        elif "consent" in problem.lower():
            href = f"{edit}#consent_direct_care"
        elif problem.startswith("Lesion "):
            number = problem.split()[1].rstrip(":")
            lesion = lesions.get(int(number)) if number.isdigit() else None
            if lesion is not None:
                href = reverse("lesion-photos", args=[referral.pk, lesion.pk])
        rows.append((problem, href))
    return rows


@keep_post_through_sign_in
@refuse_as_403
def check_referral(request: HttpRequest, pk: int) -> HttpResponse:
    """'Check your answers' (the NHS pattern): everything the service will receive on one
    page, each part with a Change link, and the one button that sends it."""
    referral = _editable_referral(request, pk)
    user = acting_user(request)
    if referral.state != State.DRAFT:
        return redirect("referral-detail", pk=referral.pk)
    if request.method == "POST":
        try:
            services.submit_referral(referral, user=user)
        except NotPermitted:
            raise
        except DomainError:
            referral = Referral.objects.get(pk=referral.pk)
        else:
            messages.success(
                request, f"Referral {referral.reference} sent to {referral.service.name}."
            )
            return redirect("referral-detail", pk=referral.pk)
    can = permissions.can(user, referral)
    problems = services.submission_problems(referral)
    history = getattr(referral, "history", None)
    history_rows: list[tuple[str, str]] = []
    not_known: list[str] = []
    if history is not None:
        from dermbridge.web.forms import HISTORY_LABELS

        for name, label in HISTORY_LABELS.items():
            value = getattr(history, name)
            shown = getattr(history, f"get_{name}_display", lambda v=value: v)()
            if value in ("", "unknown"):
                not_known.append(label.rstrip("?"))
            else:
                history_rows.append((label, str(shown)))
    services.view_referral(referral, user=user, what="referral.check_view")
    return render(
        request,
        "web/referral_check.html",
        {
            "referral": referral,
            "lesion_rows": [
                (
                    lesion,
                    imaging.lesion_image_set(lesion, referral.service, referral.kind),
                    list(lesion.images.all()),
                )
                for lesion in _lesions_with_images(referral)
            ],
            "history_rows": history_rows,
            "not_known": not_known,
            "has_consent": referral.patient.consent_for(ConsentScope.DIRECT_CARE),
            "can": can,
            "problems": _problem_links(referral, problems),
            "error_list": [],
        },
    )
