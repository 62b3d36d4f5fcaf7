"""The draft page (or answering a request for more information): everything typed is saved,
then the pressed button's step runs (add a lesion, record consent, send); deleting a draft."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.imaging import services as imaging
from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.patients.models import ConsentScope
from dermbridge.referrals import permissions, services
from dermbridge.referrals.models import Referral, State
from dermbridge.web.forms import HistoryForm, LesionForm, ReferralForm
from dermbridge.web.views.common import acting_user, error_items
from dermbridge.web.views.referring import (
    _confirm,
    _editable_referral,
    _lesions_with_images,
    _referral_targets,
    keep_post_through_sign_in,
    refuse_as_403,
    service_error_lines,
    take_unsaved_post,
)


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
        if wanted:
            permissions.check_role(user, action, referral)


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
    else:
        permissions.check_role(acting_user(request), "add_lesion", referral)
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
