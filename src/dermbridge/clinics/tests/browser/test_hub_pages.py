"""The photographer's day list on a phone (390x844) in a real browser: axe, a screenshot
(test-artifacts/browser/clinics-phone-day-list.png), no sideways scroll, no console error; the
lesion links to the photo page; the visit page opened with the keyboard."""

from __future__ import annotations

from typing import Any

import pytest

from dermbridge.clinics.models import Appointment, AppointmentStatus
from dermbridge.clinics.tests.support import clinic_today, hub_referral, make_clinic, make_hub
from dermbridge.referrals.models import ReferralKind
from dermbridge.testing import World
from dermbridge.web.tests.browser.conftest import DESKTOP, PHONE, BrowserRun, check_page, tab_to
from dermbridge.web.tests.browser.test_pages import sign_in

# make bench (browser tests are slow); make test covers the page by client (test_pages.py).
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_the_day_list_on_a_phone(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    base = live_server.url
    h = make_hub(world)
    slot = clinic_today(h).slots.first()
    assert slot is not None
    referral = hub_referral(h)
    appointment = Appointment.objects.create(slot=slot, referral=referral, booked_by=h.photographer)
    lesion = referral.lesions.get()
    page = new_page(PHONE, phone=True)
    sign_in(page, base, "pat")
    page.goto(f"{base}/hubs/{h.hub.pk}/day/")
    card = page.locator(f"#appointment-{appointment.pk}")
    assert referral.patient.nhs_number in card.text_content()
    link = card.get_by_role("link", name=f"Lesion {lesion.number}")
    assert link.get_attribute("href") == f"/referrals/{referral.pk}/lesions/{lesion.pk}/photos/"
    assert page.evaluate(NO_SIDEWAYS) <= 0
    check_page(page, browser_run, "clinics-phone-day-list")
    # The visit itself opens from the card, by keyboard (the whole visit: test_photographers_day).
    tab_to(page, f"#appointment-{appointment.pk} a.nhsuk-button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/hubs/{h.hub.pk}/appointments/{appointment.pk}/")
    assert page.evaluate(NO_SIDEWAYS) <= 0
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    check_page(page, browser_run, "clinics-phone-visit")
    assert not browser_run.external and not browser_run.server_errors


def test_the_hub_pages_pass_axe_for_its_administrator(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    base = live_server.url
    h = make_hub(world)
    make_clinic(h)
    usc = hub_referral(h, kind=ReferralKind.URGENT_CANCER)
    page = new_page(DESKTOP)
    sign_in(page, base, "hana.admin")
    page.goto(f"{base}/hubs/{h.hub.pk}/")
    check_page(page, browser_run, "clinics-hub")
    page.goto(f"{base}/hubs/{h.hub.pk}/bookings/")
    check_page(page, browser_run, "clinics-booking-list")
    page.goto(f"{base}/hubs/{h.hub.pk}/bookings/{usc.pk}/")
    with page.expect_navigation():
        page.get_by_role("button", name="Book and tell the patient").click()
    assert "Booked for" in page.text_content("main")
    check_page(page, browser_run, "clinics-booked")
    assert Appointment.objects.filter(referral=usc, status="booked").exists()
    assert not browser_run.external and not browser_run.server_errors
