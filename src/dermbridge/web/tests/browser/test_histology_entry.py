"""The histology loop in a real browser (issue #14 item 7): the service administrator opens
"Awaiting histology", follows the lesion's link and records the pathology report with the
keyboard alone -- a refusal first (errors named, values kept), then the result -- and the
concordance page shows the missed cancer; axe-core finds no serious or critical violation on any
of these pages, at desktop and phone size."""

from __future__ import annotations

from typing import Any

import pytest

from dermbridge.referrals.models import HistologyResult
from dermbridge.referrals.tests.histology_support import biopsied, request_of
from dermbridge.reporting.models import MissedCancer
from dermbridge.testing import World
from dermbridge.web.tests.browser.conftest import DESKTOP, PHONE, BrowserRun, check_page, tab_to

pytestmark = [pytest.mark.browser, pytest.mark.heavy, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login/" not in page.url


def _type_into(page: Any, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def test_histology_is_recorded_by_keyboard_and_the_missed_cancer_shown(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    base = live_server.url
    referral = biopsied(world)  # the nose called a naevus and biopsied
    request_id = request_of(referral).biopsy_request_id or ""
    page = new_page(DESKTOP)
    _sign_in(page, base, "sam")
    page.goto(f"{base}/service/histology/")
    assert request_id in (page.text_content("main") or "")
    check_page(page, browser_run, "histology-awaiting-desktop")
    tab_to(page, f"a[href='/referrals/{referral.pk}/lesions/2/histology/']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    check_page(page, browser_run, "histology-form-desktop")
    # A refusal first: no margins, no laboratory (a 400, which the browser logs).
    browser_run.expected_console.append("/lesions/2/histology/: Failed to load resource")
    _type_into(page, "#id_report_identifier", "H26-900")
    tab_to(page, "form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".nhsuk-error-summary").count() == 1
    assert page.input_value("#id_report_identifier") == "H26-900"  # nothing typed is lost
    check_page(page, browser_run, "histology-form-errors-desktop")
    _type_into(page, "#id_laboratory", "City Pathology")
    tab_to(page, "#id_reported_on")
    # A date input takes the digits in the browser locale's order (en-US: month, day, year).
    order = page.evaluate(
        "() => new Intl.DateTimeFormat().formatToParts(new Date(2026, 10, 20))"
        ".filter(p => ['day', 'month', 'year'].includes(p.type)).map(p => p.type)"
    )
    page.keyboard.type("".join({"day": "20", "month": "11", "year": "2026"}[p] for p in order))
    tab_to(page, "#id_morphology_code-filter")
    page.keyboard.type("basal cell")
    tab_to(page, "#id_morphology_code")
    page.keyboard.press("End")
    tab_to(page, "#id_margins_0")
    page.keyboard.press("Space")  # Clear
    _type_into(page, "#id_margin_mm", "2")
    _type_into(page, "#id_report_text", "Nodular basal cell carcinoma, completely excised.")
    tab_to(page, "form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/service/histology/"), page.text_content(".nhsuk-error-summary")
    result = HistologyResult.objects.get()
    assert (result.morphology_code, result.margins, str(result.reported_on)) == (
        "254701007",
        "clear",
        "2026-11-20",
    )
    assert MissedCancer.objects.filter(histology=result).exists()
    page.goto(f"{base}/dashboard/concordance/")
    assert request_id in (page.text_content("#missed + p + div") or page.content())
    check_page(page, browser_run, "concordance-desktop")
    phone = new_page(PHONE, phone=True)
    _sign_in(phone, base, "sam")
    for path, name in (
        ("/service/histology/", "histology-awaiting-phone"),
        (f"/referrals/{referral.pk}/lesions/2/histology/", "histology-form-phone"),
        ("/dashboard/concordance/", "concordance-phone"),
    ):
        phone.goto(f"{base}{path}")
        check_page(phone, browser_run, name)
        overflow = phone.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px on a phone"
