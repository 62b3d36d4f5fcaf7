"""One referral: the review page both sides share, its workflow actions and its messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.imaging import services as imaging
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.interop import services as interop_services
from dermbridge.referrals import outcomes, permissions, services, workflow
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.triage import display as ai_display
from dermbridge.triage.services import assessments_for
from dermbridge.web.forms import (
    ConvertForm,
    DowngradeForm,
    OutcomeForm,
    PatientToldForm,
    TextForm,
    apply_service_errors,
)
from dermbridge.web.views.common import acting_user, error_items, visible_referral

# Workflow actions done with one button press (no further input).
BUTTON_ACTIONS: dict[str, Callable[..., Any]] = {
    "claim": services.claim,
    "release": services.release,
    "close": services.close,
}


@dataclass(frozen=True)
class FormAction:
    """A workflow step that needs words from the user (a reason, a question, a date)."""

    title: str
    make_form: Callable[[Any], forms.Form]
    perform: Callable[[Referral, User, dict[str, Any]], Any]
    done: str
    button: str = "Send"


FORM_ACTIONS: dict[str, FormAction] = {
    "request_info": FormAction(
        "Ask the referrer for more information",
        lambda data: TextForm(data, label="What do you need to know?"),
        lambda r, u, d: services.request_more_information(r, user=u, question=d["text"]),
        "Your question was sent to the referrer.",
    ),
    "reply_info": FormAction(
        "Send the information the dermatologist asked for",
        lambda data: TextForm(data, label="Your reply"),
        lambda r, u, d: services.reply_with_information(r, user=u, body=d["text"]),
        "Your reply was sent; the referral is back on the dermatology worklist.",
    ),
    "convert": FormAction(
        "Convert this advice request to a referral",
        ConvertForm,
        lambda r, u, d: services.convert_advice_request(
            r, user=u, to_kind=d["to_kind"], note=d["text"]
        ),
        "Converted: the new pathway's clock has started.",
        "Convert",
    ),
    "withdraw": FormAction(
        "Withdraw this referral",
        lambda data: TextForm(data, label="Reason for withdrawing"),
        lambda r, u, d: services.withdraw(r, user=u, reason=d["text"]),
        "Referral withdrawn.",
        "Withdraw referral",
    ),
    "downgrade": FormAction(
        "Downgrade this urgent suspected cancer referral",
        DowngradeForm,
        lambda r, u, d: services.downgrade_usc(r, user=u, to_kind=d["to_kind"], reason=d["text"]),
        "Referral downgraded.",
        "Downgrade",
    ),
    "patient_told": FormAction(
        "Record when the patient was told",
        PatientToldForm,
        lambda r, u, d: services.record_patient_told(
            r, user=u, told_at=d["told_at"], method=d["method"]
        ),
        "Recorded when the patient was told.",
        "Save",
    ),
}


LEAD_ORDER = {"outcome": 0, "claim": 1, "edit": 1, "reply_info": 1, "release": 8}


def _action_links(user: User, referral: Referral) -> list[dict[str, str]]:
    """Buttons for what this user may do now, from the rule table (never decided here)."""
    links = []
    can = permissions.can(user, referral)
    for transition in workflow.TRANSITIONS.values():
        action = transition.action
        if not can[action]:
            continue
        if action in BUTTON_ACTIONS:
            url = reverse("referral-act", args=[referral.pk, action])
            links.append({"label": transition.label, "url": url, "method": "post"})
        elif action in ("give_advice", "triage"):
            url = reverse("referral-outcome", args=[referral.pk])
            links.append({"label": transition.label, "url": url, "method": "get"})
        elif action in FORM_ACTIONS:
            url = reverse("referral-form", args=[referral.pk, action])
            links.append({"label": transition.label, "url": url, "method": "get"})
        elif action == "submit":
            url = reverse("referral-edit", args=[referral.pk])
            links.append({"label": "Continue the draft", "url": url, "method": "get"})
    if not can["submit"] and not can["reply_info"] and (can["add_photo"] or can["record_consent"]):
        # A photographer: the draft's page shows the photos still needed.
        url = reverse("referral-edit", args=[referral.pk])
        label = "Add photos" if referral.state == State.DRAFT else "Add the photos asked for"
        links.append({"label": label, "url": url, "method": "get"})
    # One obvious primary action (the first button): answering the case comes before
    # anything else; returning it to the worklist never leads.
    links.sort(key=lambda link: LEAD_ORDER.get(link["url"].rstrip("/").rsplit("/", 1)[-1], 9))
    if can["downgrade"]:
        url = reverse("referral-form", args=[referral.pk, "downgrade"])
        links.append({"label": "Downgrade referral", "url": url, "method": "get"})
    if can["record_patient_told"] and referral.patient_told_at is None:
        url = reverse("referral-form", args=[referral.pk, "patient_told"])
        links.append({"label": "Record when the patient was told", "url": url, "method": "get"})
    return links


def _earlier_images(user: User, referral: Referral, lesions: list[Any]) -> dict[int, list[Any]]:
    """Photos of the same lesions from the patient's earlier referrals, for comparison; which
    earlier referrals were shown is audited with this read."""
    found = {lesion.pk: imaging.earlier_images(lesion, user=user) for lesion in lesions}
    shown = sorted({i.lesion.referral_id for images in found.values() for i in images})
    if shown:
        record(
            user,
            "referral.compare_view",
            referral,
            organisation_id=services.acting_org_id(user, referral),
            detail={"earlier_referrals": shown},
        )
    return found


def _answer_action(user: User, referral: Referral) -> str | None:
    """'give_advice' or 'triage' when this user may record the answer now, else None."""
    action = "give_advice" if referral.kind == ReferralKind.ADVICE else "triage"
    allowed = {t.action for t in workflow.available_actions(user, referral)}
    return action if action in allowed else None


def _review_context(
    request: HttpRequest,
    referral: Referral,
    user: User,
    outcome_form: OutcomeForm | None = None,
    extra_errors: list[str] | None = None,
) -> dict[str, Any]:
    """The review page: the case, its photos with the AI's reading, and (for the reviewing
    dermatologist) the outcome form beside the photos."""
    services.view_referral(referral, user=user)
    ready = Prefetch(
        "images", queryset=LesionImage.objects.filter(status=ImageStatus.READY).order_by("id")
    )
    lesions = list(referral.lesions.prefetch_related(ready).order_by("number"))
    service_side = workflow.is_service_staff(user, referral)
    assessments = assessments_for(referral) if service_side else []
    ai_by_lesion: dict[int, list[Any]] = {}
    for assessment in assessments:
        ai_by_lesion.setdefault(assessment.image.lesion_id, []).append(ai_display.view(assessment))
    earlier = _earlier_images(user, referral, lesions) if service_side else {}
    can = permissions.can(user, referral)
    answer = _answer_action(user, referral)
    actions = _action_links(user, referral)
    if answer and outcome_form is None:
        outcome_form = OutcomeForm(advice_only=answer == "give_advice")
    if answer:
        # The form is on this page, beside the photos: no button leads away to it.
        outcome_url = reverse("referral-outcome", args=[referral.pk])
        actions = [a for a in actions if a["url"] != outcome_url]
    if outcome_form is not None and hasattr(outcome_form, "mark_errors"):
        outcome_form.mark_errors()
    return {
        "referral": referral,
        "patient": referral.patient,
        "history": getattr(referral, "history", None),
        "outcome": getattr(referral, "outcome", None),
        "lesions": [
            (
                lesion,
                ai_by_lesion.get(lesion.pk, []),
                earlier.get(lesion.pk, []),
                any(i.image_type == ImageType.DERMOSCOPIC for i in lesion.images.all()),
            )
            for lesion in lesions
        ],
        "ai_bands": ai_display.BANDS,
        "state_changes": referral.state_changes.select_related("actor"),
        "thread": referral.messages.select_related("author", "organisation"),
        "actions": actions,
        "service_side": service_side,
        "breach": referral.breach_status(),
        "message_form": TextForm(label="Message") if can["send_message"] else None,
        "is_capturer": workflow.is_capturer(user, referral),
        "can": can,
        # Service staff archive a sent referral's images to the hospital PACS.
        "pacs": interop_services.pacs_status(referral) if can["send_to_pacs"] else None,
        "outcome_form": outcome_form if answer else None,
        "answer_action": answer,
        "explanation_templates": outcomes.templates_for(referral) if answer else [],
        "error_list": error_items(outcome_form, extra=extra_errors or [])
        if answer and outcome_form is not None
        else [],
    }


@login_required
def referral_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything about one referral for whoever may see it; actions for what they may do."""
    user = acting_user(request)
    referral = visible_referral(request, pk)
    return render(request, "web/referral_detail.html", _review_context(request, referral, user))


@login_required
@require_POST
def referral_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One-press workflow steps: start review, return to the worklist, close."""
    referral = visible_referral(request, pk)
    perform = BUTTON_ACTIONS.get(action)
    if perform is None:
        raise Http404("Unknown action.")
    try:
        perform(referral, user=acting_user(request))
    except NotPermitted as exc:
        raise PermissionDenied(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        done = {
            "claim": "You are reviewing this case.",
            "release": "Returned to the worklist.",
            "close": "Closed.",
        }
        messages.success(request, done[action])
        if action == "release":
            return redirect("worklist")
    return redirect("referral-detail", pk=referral.pk)


def _render_form(
    request: HttpRequest,
    referral: Referral,
    template: str,
    form: forms.Form,
    extra: list[str],
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    if hasattr(form, "mark_errors"):
        form.mark_errors()
    services.view_referral(referral, user=acting_user(request), what="referral.form_view")
    return render(
        request,
        template,
        {
            "referral": referral,
            "form": form,
            "error_list": error_items(form, extra=extra),
            **context,
        },
        status=status,
    )


@login_required
def referral_form_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Workflow steps that need input: ask or answer for more information, convert, withdraw,
    downgrade, record when the patient was told."""
    referral = visible_referral(request, pk)
    spec = FORM_ACTIONS.get(action)
    if spec is None:
        raise Http404("Unknown action.")
    form = spec.make_form(request.POST if request.method == "POST" else None)
    extra: list[str] = []
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            spec.perform(referral, acting_user(request), form.cleaned_data)
        except DomainError as exc:
            extra = apply_service_errors([("", form)], exc.field_errors) or [exc.message]
            status = exc.status_code
        else:
            messages.success(request, spec.done)
            return redirect("referral-detail", pk=referral.pk)
    return _render_form(
        request,
        referral,
        "web/referral_form.html",
        form,
        extra,
        status,
        title=spec.title,
        button=spec.button,
    )


OUTCOME_FIELDS = (
    "diagnosis_code",
    "pathway_decision",
    "advice_to_referrer",
    "management_plan",
    "patient_explanation",
)


@login_required
def record_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    """The dermatologist's answer, from the form beside the photos on the review page:
    diagnosis, plan, advice, patient explanation, pathway. "Save and next case" then claims
    the next case of the worklist and opens it; "Use this explanation" fills the patient
    explanation from one of the service's templates (saving nothing) for editing."""
    user = acting_user(request)
    referral = visible_referral(request, pk)
    action = _answer_action(user, referral)
    if action is None:
        messages.error(request, "Start the review before recording an outcome.")
        return redirect("referral-detail", pk=referral.pk)
    if request.method != "POST":
        return redirect(reverse("referral-detail", args=[referral.pk]) + "#outcome")
    advice_only = action == "give_advice"
    if "use_template" in request.POST:
        chosen = next(
            (
                t
                for t in outcomes.templates_for(referral)
                if str(t.pk) == request.POST.get("template")
            ),
            None,
        )
        initial = {name: request.POST.get(name, "") for name in OUTCOME_FIELDS}
        problems: list[str] = []
        if chosen is None:
            problems = ["Patient explanation template: choose one of the service's explanations."]
        else:
            initial["patient_explanation"] = chosen.text
        form = OutcomeForm(initial=initial, advice_only=advice_only)
        context = _review_context(request, referral, user, form, problems)
        status = 400 if problems else 200
        return render(request, "web/referral_detail.html", context, status=status)
    form = OutcomeForm(request.POST, advice_only=advice_only)
    extra: list[str] = []
    status = 200
    if form.is_valid():
        try:
            services.record_outcome(referral, user=user, action=action, **form.cleaned_data)
        except DomainError as exc:
            extra = apply_service_errors([("", form)], exc.field_errors) or [exc.message]
            status = exc.status_code
        else:
            done = (
                f"Outcome recorded for {referral.reference}; the referrer and patient will be told."
            )
            if request.POST.get("then") != "next":
                messages.success(request, done)
                return redirect("referral-detail", pk=referral.pk)
            following = outcomes.next_case(user, referral.service_id, after=referral)
            if following is None:
                messages.success(request, f"{done} No more cases are waiting for review.")
                return redirect("worklist")
            messages.success(request, f"{done} Next case: {following.reference}, now yours.")
            return redirect("referral-detail", pk=following.pk)
    context = _review_context(request, referral, user, form, extra)
    return render(request, "web/referral_detail.html", context, status=status)


@login_required
@require_POST
def post_message(request: HttpRequest, pk: int) -> HttpResponse:
    referral = visible_referral(request, pk)
    form = TextForm(request.POST, label="Message")
    if not permissions.may_role(acting_user(request), "send_message", referral):
        raise PermissionDenied("Only the referrer and the dermatology service can message here.")
    if not form.is_valid():
        messages.error(request, "Write a message before sending.")
        return redirect("referral-detail", pk=referral.pk)
    try:
        services.post_message(referral, user=acting_user(request), body=form.cleaned_data["text"])
    except NotPermitted as exc:
        raise PermissionDenied(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Message sent.")
    return redirect(reverse("referral-detail", args=[referral.pk]) + "#messages")


@login_required
@require_POST
def send_to_pacs(request: HttpRequest, pk: int) -> HttpResponse:
    """Service staff archive a sent referral's images to the hospital PACS (sent by the worker)."""
    referral = visible_referral(request, pk)
    user = acting_user(request)
    try:
        permissions.check(user, "send_to_pacs", referral)
        interop_services.queue_send_to_pacs(referral, user=user)
    except NotPermitted as exc:
        raise PermissionDenied(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, "The images are being sent to the PACS. This page shows when they arrive."
        )
    return redirect(reverse("referral-detail", args=[referral.pk]) + "#pacs")
