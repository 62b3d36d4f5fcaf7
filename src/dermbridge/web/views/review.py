"""The dermatology service's worklist (urgent suspected cancer first, then AI risk, then target)
and the service administrator's patient-explanation templates."""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from dermbridge.accounts.models import Organisation, Role, User
from dermbridge.clinics import results as hub_results
from dermbridge.core.errors import DomainError
from dermbridge.imaging.models import ImageType
from dermbridge.referrals import outcomes, permissions, worklists
from dermbridge.referrals.models import ExplanationTemplate, Referral
from dermbridge.triage import display as ai_display
from dermbridge.web.forms import NhsForm, WorklistFilterForm, apply_service_errors
from dermbridge.web.views.common import acting_user, error_items


def _quick_action(user: User, referral: Referral) -> str:
    """'claim' or 'release' when the rule table allows it from the list (no extra queries:
    memberships are cached on the user)."""
    return next((a for a in ("claim", "release") if permissions.may(user, a, referral)), "")


def _filters(chosen: dict[str, Any]) -> worklists.WorklistFilters:
    """The worklist form's choices as the worklist's filters; the AI filter's "none" and
    "pending" are the cases the AI has not assessed, without or with a dermoscopic photo."""
    band = chosen.get("ai_band") or None
    has_photo = None
    if band in ("none", ai_display.PENDING):
        band, has_photo = "", band == ai_display.PENDING
    return worklists.WorklistFilters(
        kind=chosen.get("kind") or "",
        state=chosen.get("state") or "",
        breach=chosen.get("breach") or "",
        ai_band=band,
        has_photo=has_photo,
        mine=bool(chosen.get("mine")),
    )


FilterValues = tuple[bool, tuple[tuple[str, tuple[str, ...]], ...]]


def _filter_values(request: HttpRequest) -> FilterValues:
    """What the filter form's rendering depends on: whether it is bound, and its fields'
    values in the query string."""
    fields = WorklistFilterForm.base_fields
    return bool(request.GET), tuple((name, tuple(request.GET.getlist(name))) for name in fields)


@functools.lru_cache(maxsize=64)
def _filter_fields_html(values: FilterValues) -> SafeString:
    """The worklist's filter fields as HTML for these values: the same for everyone (no patient
    data; the choices are in the code), so rendered through Django's widget templates once per
    process for each of the 64 most recent combinations rather than on every worklist."""
    bound, data = values
    query = MultiValueDict({name: list(given) for name, given in data if given})
    form = WorklistFilterForm(query if bound else None)
    return render_to_string("web/includes/worklist_filters.html", {"form": form})


@login_required
def worklist(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    services = worklists.review_services(user)
    if not services:
        raise Http404("You do not review for a dermatology service.")
    try:
        chosen = int(request.GET.get("service", services[0].pk))
    except ValueError:
        chosen = services[0].pk
    service = next((s for s in services if s.pk == chosen), None)
    if service is None:
        raise Http404("You do not review for that service.")
    form = WorklistFilterForm(request.GET or None)
    # Whether each case has a dermoscopic photo: a case the AI has not assessed is "No
    # dermoscopic photo" only when it has none.
    page = worklists.review_worklist(
        user,
        service,
        _filters(form.cleaned_data if form.is_valid() else {}),
        page=request.GET.get("page"),
        photo_type=ImageType.DERMOSCOPIC,
    )
    now = timezone.now()
    rows = [
        (
            r,
            r.breach_status(now),
            _quick_action(user, r),
            ai_display.band(r.ai_band, has_dermoscopic=r.has_photo),
        )
        for r in page.object_list
    ]
    # A case photographed at a hub shows its result clock (one query, none without hub cases).
    clocks = hub_results.clocks_for([row[0] for row in rows])
    for row in rows:
        row[0].hub_result = clocks.get(row[0].pk)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "web/worklist.html",
        {
            "service": service,
            "services": services,
            "form": form,
            "filter_fields": _filter_fields_html(_filter_values(request)),
            "page": page,
            "rows": rows,
            "query": query.urlencode(),
            "manages_explanations": service.pk in user.organisation_ids(Role.SERVICE_ADMIN),
        },
    )


class ExplanationTemplateForm(NhsForm):
    title = forms.CharField(
        label="Title", max_length=80, help_text="What it is for, such as 'Benign mole: discharge'."
    )
    text = forms.CharField(
        label="Explanation for the patient",
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=4000,
        help_text="Plain English. Say 'likely' or 'suspected' until a biopsy confirms a diagnosis.",
    )


def _admin_service(user: User) -> Organisation:
    services = list(Organisation.objects.filter(pk__in=user.organisation_ids(Role.SERVICE_ADMIN)))
    if not services:
        raise Http404("You do not administer a dermatology service.")
    return services[0]


def _render_templates(
    request: HttpRequest,
    service: Organisation,
    form: ExplanationTemplateForm,
    editing: ExplanationTemplate | None = None,
    extra: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    form.mark_errors()
    return render(
        request,
        "web/explanations.html",
        {
            "service": service,
            "templates": ExplanationTemplate.objects.filter(service=service, active=True),
            "form": form,
            "editing": editing,
            "error_list": error_items(form, extra=extra or []),
        },
        status=status,
    )


@login_required
def explanation_templates(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """The service administrator's list of reusable patient explanations: add one, or change
    one (``pk``). Dermatologists of the service pick them on the review page."""
    user = acting_user(request)
    service = _admin_service(user)
    editing = None
    if pk is not None:
        editing = ExplanationTemplate.objects.filter(pk=pk, service=service, active=True).first()
        if editing is None:
            raise Http404("No such explanation in your service.")
    if request.method != "POST":
        initial = {"title": editing.title, "text": editing.text} if editing else None
        return _render_templates(
            request, service, ExplanationTemplateForm(initial=initial), editing
        )
    form = ExplanationTemplateForm(request.POST)
    if not form.is_valid():
        return _render_templates(request, service, form, editing, status=400)
    try:
        saved = outcomes.save_template(user, service.pk, template=editing, **form.cleaned_data)
    except DomainError as exc:
        extra = apply_service_errors([("", form)], exc.field_errors) or [exc.message]
        return _render_templates(request, service, form, editing, extra, exc.status_code)
    messages.success(request, f"Saved “{saved.title}”. Dermatologists can use it now.")
    return redirect("explanation-templates")


@login_required
@require_POST
def retire_explanation_template(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_user(request)
    service = _admin_service(user)
    template = ExplanationTemplate.objects.filter(pk=pk, service=service, active=True).first()
    if template is None:
        raise Http404("No such explanation in your service.")
    outcomes.retire_template(user, template)
    messages.success(request, f"Removed “{template.title}” from the dermatologists' list.")
    return redirect("explanation-templates")
