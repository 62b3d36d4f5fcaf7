"""Clinics' answers to signals sent from below (ADR 0012): the photography appointment on the
patient's status page."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from dermbridge.clinics import patient
from dermbridge.notifications.services import status_page_sections
from dermbridge.notifications.status import StatusSection
from dermbridge.referrals.models import Referral


@receiver(status_page_sections, dispatch_uid="clinics.appointment_on_status_page")
def appointment_on_status_page(
    sender: Any, referral: Referral, **kwargs: Any
) -> StatusSection | None:
    return patient.status_section(referral)
