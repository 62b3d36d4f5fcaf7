"""`{% lesion_panel referral %}`: on the review page, each lesion of the referral with the
patient's lesion it shows (seen how often, a link to compare the visits) or, when it is not yet
linked, a link to the patient's lesions page to link it. Renders lesions/_review_panel.html.

Only for the service's dermatologists (lesions/access.py); renders nothing for anyone else.
Not audited itself: the review page that includes it audits the referral read, and the pages
it links to audit their own.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Count

from dermbridge.core.rows import read_prepared
from dermbridge.lesions import access
from dermbridge.lesions.models import LesionEncounter

register = template.Library()


@register.inclusion_tag("lesions/_review_panel.html", takes_context=True)
def lesion_panel(context: dict[str, Any], referral: Any) -> dict[str, Any]:
    user = context.get("user")
    # The review page has read the lesions (referrals.reads.lesions_of keeps them as
    # referral.lesions.all()'s result): no query here for them.
    lesions = list(referral.lesions.all())
    if user is None or not any(access.may_link(user, lesion) for lesion in lesions[:1]):
        return {"rows": [], "patient_id": None}
    # Each encounter with its patient lesion, who linked it, and how many times that lesion has
    # been seen (its encounters counted in the same statement, prepared once per process).
    encounters = {
        e.lesion_id: e
        for e in read_prepared(
            ("lesions.review_panel",),
            lambda key: (
                LesionEncounter.objects.filter(lesion__referral_id=key)
                .select_related("patient_lesion", "linked_by")
                .annotate(seen=Count("patient_lesion__encounters"))
            ),
            args=(referral.pk,),
        )
    }
    rows = []
    for lesion in lesions:
        encounter = encounters.get(lesion.pk)
        seen = encounter.seen if encounter else 0  # type: ignore[attr-defined]
        rows.append({"lesion": lesion, "encounter": encounter, "seen": seen})
    return {"rows": rows, "patient_id": referral.patient_id}
