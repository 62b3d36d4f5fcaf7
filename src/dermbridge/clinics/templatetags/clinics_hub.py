"""What the dermatology service sees of a hub visit on its own pages (issue #13): on the review
page, the visit (identity checked, consent per scope), lesions the hub added with the reason
(flagged), the result clock beside the 28-day Faster Diagnosis Standard, and the link to send
the referral to a hub for better photographs. (A page of cases, such as the worklist, gets
their clocks in one query from `clinics.results.clocks_for`.)

Template tags, so that the web pages show them with one line each and no import of clinics
(web sits above clinics; the pages already audit the referral they show)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template

from dermbridge.clinics import results
from dermbridge.clinics.models import Appointment, AppointmentStatus, ExtraLesion
from dermbridge.referrals import permissions
from dermbridge.referrals.clocks import FDS_DAYS

register = template.Library()


@register.inclusion_tag("clinics/_review_panel.html", takes_context=True)
def hub_review_panel(context: template.Context) -> dict[str, Any]:
    """The review page's hub panel for `referral` (no query unless a hub was involved)."""
    referral = context["referral"]
    request = context.get("request")
    user = getattr(request, "user", None)
    out: dict[str, Any] = {
        "referral": referral,
        "can_send": bool(user is not None and permissions.may(user, "request_info", referral)),
        "visit": None,
        "clock": None,
        "extras": [],
        "fds_due": None,
    }
    if referral.imaging_hub_id is None:
        return out
    visit = (
        Appointment.objects.filter(referral=referral, status=AppointmentStatus.ATTENDED)
        .select_related("slot__session__site__hub", "outcome_by", "identity_checked_by")
        .order_by("-outcome_at", "-id")
        .first()
    )
    out["extras"] = list(
        ExtraLesion.objects.filter(lesion__referral=referral).select_related("lesion", "added_by")
    )
    if visit is not None:
        visit.referral = referral
        out["visit"] = visit
        out["clock"] = results.clock_of(visit)
        if referral.is_usc and referral.submitted_at:
            out["fds_due"] = referral.submitted_at + timedelta(days=FDS_DAYS)
    return out
