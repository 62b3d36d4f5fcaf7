"""What the referring side's pages share (the capture pages of practices and imaging hubs:
finding a referral they may edit, keeping a form through signing in again, confirmation pages),
and their list of referrals.

The pages themselves: new_referral (start one), draft (the draft page and sending it),
lesions (change or remove a lesion), check_answers (check and send), photos (the photos)."""

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
from django.shortcuts import render

from dermbridge.accounts.models import Organisation, OrganisationKind, Role, User
from dermbridge.core.errors import DomainError, NotFound, NotPermitted
from dermbridge.imaging.models import LesionImage
from dermbridge.referrals import workflow, worklists
from dermbridge.referrals.models import Lesion, Referral
from dermbridge.web.forms import apply_service_errors
from dermbridge.web.views.common import acting_user, visible_referral

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
    try:
        groups = worklists.gp_referral_list(acting_user(request))
    except NotFound as exc:
        raise Http404(exc.message) from None
    return render(request, "web/my_referrals.html", {"groups": groups})


def _referral_targets(request: HttpRequest) -> dict[str, Any]:
    services_qs = Organisation.objects.filter(kind=OrganisationKind.DERMATOLOGY_SERVICE)
    hubs = Organisation.objects.filter(kind=OrganisationKind.IMAGING_HUB)
    return {
        "services": [(o.pk, o.name) for o in services_qs],
        "hubs": [(o.pk, o.name) for o in hubs],
    }


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
