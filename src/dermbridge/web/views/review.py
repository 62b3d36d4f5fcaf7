"""The dermatology service's worklist (urgent suspected cancer first, then AI risk, then target)
and the service administrator's patient-explanation templates."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from dermbridge.accounts.models import Organisation, Role, User
from dermbridge.audit.services import record
from dermbridge.core.errors import DomainError
from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.referrals import outcomes, workflow
from dermbridge.referrals.models import ExplanationTemplate, Referral
from dermbridge.triage import display as ai_display
from dermbridge.web.forms import NhsForm, WorklistFilterForm, apply_service_errors
from dermbridge.web.views.common import acting_user, error_items

PAGE_SIZE = 25
REVIEW_ROLES = (Role.DERMATOLOGIST, Role.SERVICE_ADMIN)


def _quick_action(user: User, referral: Referral) -> str:
    """'claim' or 'release' when the workflow allows it from the list (no extra queries:
    memberships are cached on the user)."""
    allowed = {t.action for t in workflow.available_actions(user, referral)}
    return next((a for a in ("claim", "release") if a in allowed), "")


@login_required
def worklist(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    services = list(Organisation.objects.filter(pk__in=user.organisation_ids(*REVIEW_ROLES)))
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
    filters = form.cleaned_data if form.is_valid() else {}
    # Whether each case has a dermoscopic photo: a case the AI has not assessed is "No
    # dermoscopic photo" only when it has none (still one query: an EXISTS per row shown).
    dermoscopic = LesionImage.objects.filter(
        lesion__referral=OuterRef("pk"), image_type=ImageType.DERMOSCOPIC
    )
    queryset: Any = (
        Referral.objects.worklist(service.pk)
        .select_related("patient", "claimed_by")
        .annotate(has_dermoscopic=Exists(dermoscopic))
    )
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    if filters.get("state"):
        queryset = queryset.filter(state=filters["state"])
    if filters.get("breach"):
        queryset = queryset.breach(filters["breach"])
    if filters.get("ai_band"):
        band = filters["ai_band"]
        if band == "none":
            queryset = queryset.filter(ai_band="", has_dermoscopic=False)
        elif band == ai_display.PENDING:
            queryset = queryset.filter(ai_band="", has_dermoscopic=True)
        else:
            queryset = queryset.filter(ai_band=band)
    if filters.get("mine"):
        queryset = queryset.filter(claimed_by=user)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [
        (
            r,
            r.breach_status(now),
            _quick_action(user, r),
            ai_display.band(r.ai_band, has_dermoscopic=r.has_dermoscopic),
        )
        for r in page.object_list
    ]
    record(
        user,
        "referral.list",
        object_type="referrals.referral",
        organisation_id=service.pk,
        detail={"page": "worklist", "shown": [row[0].pk for row in rows]},
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "web/worklist.html",
        {
            "service": service,
            "services": services,
            "form": form,
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
