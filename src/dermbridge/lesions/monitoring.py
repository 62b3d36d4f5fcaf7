"""Telling the service when a monitored lesion's review date passes with no new photos.

Run daily by the scheduler (`lesions.tasks.tell_overdue_monitoring`). For each overdue lesion
the service of its latest referral is emailed (outbox: mailbox, dermatologists, administrators)
and the lesion is marked told, so a second run the same day, or the next day, sends nothing;
setting a new review date starts again. The message names no patient: it gives the referral
reference and the lesion's site, and the page to open.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from dermbridge.audit.services import record
from dermbridge.lesions.models import PatientLesion
from dermbridge.lesions.services import overdue_monitoring
from dermbridge.notifications.services import notify_service_text

EVENT = "lesion_review_overdue"


def _latest_referral(patient_lesion: PatientLesion):  # type: ignore[no-untyped-def]
    encounter = (
        patient_lesion.encounters.select_related("lesion__referral__service")
        .order_by("-lesion__referral__created_at", "-id")
        .first()
    )
    return encounter.lesion.referral if encounter else None


def tell_overdue(today: dt.date | None = None) -> int:
    """Tell the services of every overdue monitored lesion; the number told."""
    today = today or timezone.localdate()
    told = 0
    for pk in list(overdue_monitoring(today).values_list("pk", flat=True)):
        with transaction.atomic():
            lesion = PatientLesion.objects.select_for_update().get(pk=pk)
            if lesion.overdue_notified_on is not None or lesion.monitor_until is None:
                continue
            referral = _latest_referral(lesion)
            if referral is None:
                continue
            subject = f"Lesion review overdue: referral {referral.reference}"
            body = (
                f"The {lesion.label.lower()} lesion (referral {referral.reference}) was to be "
                f"photographed again by {lesion.monitor_until:%d %B %Y}. No new photos have "
                "arrived. Open the patient's lesions in DermBridge to arrange photography or "
                "change the review date."
            )
            notify_service_text(
                referral,
                EVENT,
                occurrence=f"lesion-{lesion.pk}-{lesion.monitor_until:%Y%m%d}",
                subject=subject,
                body=body,
            )
            lesion.overdue_notified_on = today
            lesion.save(update_fields=["overdue_notified_on"])
            record(
                None,
                "lesion.monitor_overdue",
                lesion,
                organisation_id=referral.service_id,
                detail={"until": lesion.monitor_until.isoformat(), "referral": referral.reference},
            )
            told += 1
    return told
