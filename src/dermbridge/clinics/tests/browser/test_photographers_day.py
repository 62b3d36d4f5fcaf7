"""The photographer's day on a tablet (820x1180) in a real browser, with the keyboard only and
axe on every page: the day list, the visit, the identity check, consent per scope, the photos
(taken through the photo page, which has its own browser tests: here they are attached as the
camera upload leaves them), and the visit recorded as attended. Screenshots in
test-artifacts/browser/clinics-tablet-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from dermbridge.clinics.models import Appointment, AppointmentStatus
from dermbridge.clinics.tests.support import clinic_today, hub_referral, make_hub
from dermbridge.clinics.visit import HUB_SET
from dermbridge.referrals.models import ReferralKind
from dermbridge.testing import World, attach_ready_image
from dermbridge.web.tests.browser.conftest import BrowserRun, check_page, tab_to
from dermbridge.web.tests.browser.test_pages import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.heavy,
    pytest.mark.django_db(transaction=True),
]

TABLET = {"width": 820, "height": 1180}
NO_SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def keys(page: Any, selector: str, key: str) -> None:
    """Reach `selector` with Tab and press `key` on it."""
    tab_to(page, selector)
    page.keyboard.press(key)


def test_the_photographers_day_on_a_tablet_by_keyboard(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    base = live_server.url
    h = make_hub(world)
    slot = clinic_today(h).slots.first()
    assert slot is not None
    referral = hub_referral(h, kind=ReferralKind.URGENT_CANCER)
    appointment = Appointment.objects.create(slot=slot, referral=referral, booked_by=h.admin)
    patient = referral.patient
    page = new_page(TABLET)
    sign_in(page, base, "pat")

    page.goto(f"{base}/hubs/{h.hub.pk}/day/")
    assert patient.nhs_number in page.text_content(f"#appointment-{appointment.pk}")
    assert page.evaluate(NO_SIDEWAYS) <= 0
    check_page(page, browser_run, "clinics-tablet-day-list")
    with page.expect_navigation():
        keys(page, f"#appointment-{appointment.pk} a.nhsuk-button", "Enter")

    # 1. Identity: all three, ticked with the space bar.
    assert page.url.endswith(f"/appointments/{appointment.pk}/")
    assert patient.formatted_nhs_number in page.text_content("main")
    check_page(page, browser_run, "clinics-tablet-visit")
    for box in ("#identity-name", "#identity-date_of_birth", "#identity-nhs_number"):
        keys(page, box, "Space")
    with page.expect_navigation():
        keys(page, "form[action$='/identity/'] button", "Enter")
    assert "Identity checked" in page.text_content("main")

    # 2. Consent: care yes, teaching no (arrow key within the group), research yes.
    keys(page, "#consent-care-yes", "Space")
    keys(page, "#consent-teaching-yes", "ArrowRight")
    keys(page, "#consent-research-yes", "Space")
    assert page.is_checked("#consent-teaching-no")
    check_page(page, browser_run, "clinics-tablet-consent")
    with page.expect_navigation():
        keys(page, "form[action$='/consent/'] button", "Enter")
    appointment.refresh_from_db()
    assert (appointment.consent_care, appointment.consent_teaching) == (True, False)
    assert appointment.consent_research is True

    # 3. Photos: the lesion's overview, close-up and dermoscopic photo, as uploaded.
    lesion = referral.lesions.get()
    assert page.get_by_role("link", name=f"Photos for lesion {lesion.number}").is_visible()
    for image_type in HUB_SET:
        attach_ready_image(lesion, image_type, h.photographer)
    page.reload()
    assert "Needed" not in page.text_content(f"#lesion-{lesion.number}")
    assert page.is_checked("#outcome-attended")  # nothing missing: attended is the default
    assert page.evaluate(NO_SIDEWAYS) <= 0
    check_page(page, browser_run, "clinics-tablet-photos")

    # 4. Attended, back to the day list.
    with page.expect_navigation():
        keys(page, "form[action$='/outcome/'] button", "Enter")
    assert page.url.endswith(f"/hubs/{h.hub.pk}/day/")
    assert "Recorded: attended" in page.text_content("main")
    check_page(page, browser_run, "clinics-tablet-day-list-done")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ATTENDED
    assert appointment.identity_checked_by == h.photographer
    assert appointment.result_due_at is not None
    assert not browser_run.external and not browser_run.server_errors
