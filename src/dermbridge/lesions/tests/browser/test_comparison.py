"""A dermatologist links a patient's later visits to their lesion and compares them, in a real
browser with the keyboard only, at desktop (1366x900) and phone (390x844) sizes: axe (no serious
or critical violation), screenshots (test-artifacts/browser/lesions-*.png), no sideways scroll,
the aligned crops load at 480 px, no console error."""

from __future__ import annotations

from typing import Any

import pytest

from dermbridge.lesions.models import LesionEncounter, PatientLesion
from dermbridge.lesions.tests.support import visit
from dermbridge.testing import World
from dermbridge.web.tests.browser.conftest import DESKTOP, PHONE, BrowserRun, check_page, tab_to
from dermbridge.web.tests.browser.test_pages import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.heavy,
    pytest.mark.django_db(transaction=True),
]

NO_SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
UPPER_BACK = {"body_site_code": "699893008", "laterality": "left", "pigmented": True}


def test_link_and_compare_a_growing_lesion_with_the_keyboard(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    base = live_server.url
    first = visit(world, None, size=4, days_ago=730, site=UPPER_BACK, phash="f0f0f0f0f0f0f0f0")
    patient = first.patient
    second = visit(
        world, patient, size=5.5, days_ago=365, site=UPPER_BACK, phash="f0f0f0f0f0f0f0f1"
    )
    third = visit(world, patient, size=7.5, days_ago=3, site=UPPER_BACK, phash="f0f0f0f0f0f0f0f3")
    tracked = PatientLesion.objects.get()

    page = new_page(DESKTOP)
    sign_in(page, base, "derek")
    page.goto(f"{base}/lesions/patients/{patient.pk}/")
    assert "Lesions to link (2)" in page.text_content("main")
    check_page(page, browser_run, "lesions-patient-desktop")
    for referral in (second, third):
        lesion = referral.lesions.get()
        # The likely match is chosen already; the keyboard reaches the form's button.
        radio = page.locator(f"#id_l{lesion.pk}-patient_lesion_0")
        assert radio.is_checked()
        tab_to(page, f"form[action='/lesions/link/{lesion.pk}/'] button")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert LesionEncounter.objects.get(lesion=lesion).patient_lesion == tracked
    assert "seen 3 times" in page.text_content("main")
    tab_to(page, f"a[href='/lesions/{tracked.pk}/compare/']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/lesions/{tracked.pk}/compare/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.db-visits img')].every(i => i.complete && i.naturalWidth === 480)"
    )
    assert page.locator(".db-visits img").count() == 3
    assert page.locator(".db-growth__point").count() == 3
    check_page(page, browser_run, "lesions-compare-desktop")
    # A review date, by keyboard: type it, then submit the form with Enter.
    tab_to(page, "#id_monitor_until")
    page.fill("#id_monitor_until", "2099-03-31")  # the field reached by Tab above
    tab_to(page, f"form[action='/lesions/{tracked.pk}/monitor/'] button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Review date set" in page.text_content("main")
    tracked.refresh_from_db()
    assert str(tracked.monitor_until) == "2099-03-31"

    phone = new_page(PHONE, phone=True)
    sign_in(phone, base, "derek")
    phone.goto(f"{base}/lesions/patients/{patient.pk}/")
    assert phone.evaluate(NO_SIDEWAYS) <= 0
    check_page(phone, browser_run, "lesions-patient-phone")
    phone.goto(f"{base}/lesions/{tracked.pk}/compare/")
    phone.wait_for_function(
        "() => [...document.querySelectorAll('.db-visits img')].every(i => i.complete && i.naturalWidth === 480)"
    )
    assert phone.evaluate(NO_SIDEWAYS) <= 0
    check_page(phone, browser_run, "lesions-compare-phone")
    assert not browser_run.external and not browser_run.server_errors
