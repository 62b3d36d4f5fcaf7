"""The dermatology service's worklist: urgent suspected cancer first, then AI risk, then target."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from dermbridge.accounts.models import Organisation, Role, User
from dermbridge.audit.services import record
from dermbridge.referrals import workflow
from dermbridge.referrals.models import Referral
from dermbridge.web.forms import WorklistFilterForm
from dermbridge.web.views.common import acting_user

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
    queryset = Referral.objects.worklist(service.pk).select_related("patient", "claimed_by")
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    if filters.get("state"):
        queryset = queryset.filter(state=filters["state"])
    if filters.get("breach"):
        queryset = queryset.breach(filters["breach"])
    if filters.get("ai_band"):
        band = filters["ai_band"]
        queryset = queryset.filter(ai_band="" if band == "none" else band)
    if filters.get("mine"):
        queryset = queryset.filter(claimed_by=user)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [(r, r.breach_status(now), _quick_action(user, r)) for r in page.object_list]
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
        },
    )
