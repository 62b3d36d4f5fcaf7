"""What is done to one referral from its review page: the one-press workflow steps, the steps
that need words (a question, a reason, a date), the dermatologist's outcome, messages and the
PACS send. Whether the user may is the rule table's answer (referrals.permissions), asked by
the service each step calls (and here for the PACS send, whose interop service does not)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dermbridge.core.errors import DomainError, NotPermitted
from dermbridge.interop import services as interop_services
from dermbridge.referrals import outcomes, permissions, services
from dermbridge.referrals.models import Referral
from dermbridge.web.forms import LesionOutcomeForm, OutcomeForm, TextForm, apply_service_errors
from dermbridge.web.views.common import acting_user, error_items, visible_referral
from dermbridge.web.views.referral import (
    BUTTON_ACTIONS,
    FORM_ACTIONS,
    _answer_action,
    _review_context,
)


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
    "pathway_decision",
    "advice_to_referrer",
    "management_plan",
    "patient_explanation",
)


def _lesion_forms(
    referral: Referral, advice_only: bool, data: Any = None, *, as_initial: bool = False
) -> list[LesionOutcomeForm]:
    """One form per lesion; with ``as_initial`` the posted values fill unbound forms (no
    errors shown: the page was re-rendered to use an explanation, not to save)."""
    result = []
    for lesion in referral.lesions.order_by("number"):
        if as_initial and data is not None:
            prefix = f"lesion-{lesion.number}"
            initial = {
                name: data.get(f"{prefix}-{name}", "") for name in LesionOutcomeForm.base_fields
            }
            result.append(
                LesionOutcomeForm(lesion=lesion, advice_only=advice_only, initial=initial)
            )
        else:
            result.append(LesionOutcomeForm(data, lesion=lesion, advice_only=advice_only))
    return result


def _apply_errors(
    form: OutcomeForm, lesion_forms: list[LesionOutcomeForm], field_errors: dict[str, list[str]]
) -> list[str]:
    """The service's errors on their fields: ``lesions[<n>].<field>`` on lesion n's form
    (``differential`` on its first differential), the rest on the referral's form."""
    by_number = {f.lesion.number: f for f in lesion_forms}
    rest: dict[str, list[str]] = {}
    unmatched: list[str] = []
    for key, messages_ in field_errors.items():
        match = re.fullmatch(r"lesions\[(\d+)\]\.(\w+)", key)
        target = by_number.get(int(match.group(1))) if match else None
        if match is None or target is None:
            rest[key] = messages_
            continue
        name = "differential_1" if match.group(2) == "differential" else match.group(2)
        if name not in target.fields:
            unmatched.extend(messages_)
            continue
        for message in messages_:
            target.add_error(name, message)
    return unmatched + apply_service_errors([("", form)], rest)


@login_required
def record_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    """The dermatologist's answer, from the form beside the photos on the review page: for
    each lesion a diagnosis (and differentials) and management, then the plan, advice, patient
    explanation and pathway (which follows from the most urgent lesion unless a more urgent one
    is chosen). "Save and next case" then claims the next case of the worklist and opens it;
    "Use this explanation" fills the patient explanation from one of the service's templates
    (saving nothing) for editing."""
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
        lesion_forms = _lesion_forms(referral, advice_only, request.POST, as_initial=True)
        context = _review_context(request, referral, user, form, problems, lesion_forms)
        status = 400 if problems else 200
        return render(request, "web/referral_detail.html", context, status=status)
    form = OutcomeForm(request.POST, advice_only=advice_only)
    lesion_forms = _lesion_forms(referral, advice_only, request.POST)
    extra: list[str] = []
    status = 200
    # Every form is checked (each shows its own errors), not only up to the first invalid one.
    valid = [f.is_valid() for f in (form, *lesion_forms)]
    if all(valid):
        try:
            services.record_outcome(
                referral,
                user=user,
                action=action,
                lesions=[f.service_data() for f in lesion_forms],
                **form.cleaned_data,
            )
        except DomainError as exc:
            extra = _apply_errors(form, lesion_forms, exc.field_errors) or [exc.message]
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
    context = _review_context(request, referral, user, form, extra, lesion_forms)
    return render(request, "web/referral_detail.html", context, status=status)


@login_required
@require_POST
def post_message(request: HttpRequest, pk: int) -> HttpResponse:
    referral = visible_referral(request, pk)
    form = TextForm(request.POST, label="Message")
    try:
        permissions.check_role(acting_user(request), "send_message", referral)
    except NotPermitted as exc:
        raise PermissionDenied(exc.message) from None
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
        interop_services.queue_send_to_pacs(referral, user=user)  # checks the rule table
    except NotPermitted as exc:
        raise PermissionDenied(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, "The images are being sent to the PACS. This page shows when they arrive."
        )
    return redirect(reverse("referral-detail", args=[referral.pk]) + "#pacs")
