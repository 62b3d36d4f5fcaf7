"""A patient confirms their photography appointment on a phone (390x844), in a real browser,
from the no-login status page: axe, no sideways scroll, no console error, the confirm button
reached and pressed with the keyboard (issue #13 item 9)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from dermbridge.clinics import services
from dermbridge.clinics.tests.support import hub_referral, make_clinic, make_hub
from dermbridge.notifications.services import issue_status_link
from dermbridge.testing import World
from dermbridge.web.tests.browser.conftest import PHONE, BrowserRun, check_page, tab_to

# make bench (about 12 s with Chromium's start); make test covers the page and the answers by
# client (test_patient_side.py).
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_a_patient_confirms_the_appointment_on_a_phone(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    h = make_hub(world)
    make_clinic(h)
    referral = hub_referral(h)
    appointment = services.book(h.photographer, referral, hub=h.hub, site=h.site)
    link = issue_status_link(referral).replace(settings.SITE_URL, live_server.url)
    page = new_page(PHONE, phone=True)
    page.goto(link)
    section = page.locator("section.appointment")
    assert "Your photography appointment is on" in section.text_content()
    assert "Northgate Health Centre" in section.text_content()
    assert page.evaluate(NO_SIDEWAYS) <= 0
    check_page(page, browser_run, "clinics-phone-status-appointment")
    tab_to(page, "section.appointment form button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "you have confirmed your appointment" in page.text_content("main")
    appointment.refresh_from_db()
    assert appointment.confirmed_at is not None
    check_page(page, browser_run, "clinics-phone-status-confirmed")
    assert not browser_run.external and not browser_run.server_errors
