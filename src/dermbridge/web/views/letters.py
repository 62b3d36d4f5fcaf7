"""Letters to post (/letters/): the dermatology service's staff print and post patient letters.

Only staff of the service a referral is addressed to see its letters; anyone else gets 403 (no
service role) and never another service's letters.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from dermbridge.accounts.models import Role
from dermbridge.notifications import letters
from dermbridge.web.views.common import acting_user

LETTER_ROLES = (Role.SERVICE_ADMIN, Role.DERMATOLOGIST)


def _service_ids(request: HttpRequest) -> list[int]:
    ids = list(acting_user(request).organisation_ids(*LETTER_ROLES))
    if not ids:
        raise PermissionDenied("Letters to post are for dermatology service staff.")
    return ids


def _chosen_ids(request: HttpRequest) -> list[int]:
    raw = request.POST.getlist("letter") if request.method == "POST" else []
    raw = raw or request.GET.getlist("letter")
    return [int(v) for v in raw if v.isascii() and v.isdigit()]


@login_required
@require_safe
def letters_page(request: HttpRequest) -> HttpResponse:
    pending = list(letters.letters_to_post(_service_ids(request)))
    return render(request, "notifications/letters.html", {"letters": pending})


@login_required
@require_safe
def letters_download(request: HttpRequest) -> HttpResponse:
    """The chosen letters (or all waiting) as one PDF to print."""
    pending = letters.letters_to_post(_service_ids(request))
    chosen = _chosen_ids(request)
    if chosen:
        pending = pending.filter(pk__in=chosen)
    batch = list(pending)
    if not batch:
        messages.info(request, "There are no letters to print.")
        return redirect("letters")
    pdf = letters.print_letters(acting_user(request), batch)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="letters-to-post.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def letters_posted(request: HttpRequest) -> HttpResponse:
    chosen = _chosen_ids(request)
    if not chosen:
        messages.error(request, "Choose the letters you have posted.")
        return redirect("letters")
    done = letters.mark_posted(acting_user(request), _service_ids(request), chosen)
    messages.success(request, f"{done} letter{'s' if done != 1 else ''} marked as posted.")
    return redirect("letters")
