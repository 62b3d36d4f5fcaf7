"""Every page of every role at phone and desktop sizes in a real browser: axe-core finds no serious
or critical violation, nothing scrolls sideways on a phone, each page has one primary action at
most, and no request leaves this machine. The journeys (test_journeys.py) drive the work; this
test makes sure no page is only ever checked at one size, including the pages around signing in.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from dermbridge.notifications.services import issue_status_link
from dermbridge.referrals.models import State
from dermbridge.testing import World, make_referral
from dermbridge.web.tests.browser.conftest import DESKTOP, PHONE, BrowserRun, check_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"
SIZES = (("phone", PHONE, True), ("desktop", DESKTOP, False))
# A primary action is a plain NHS button (secondary, reverse and warning buttons are not).
PRIMARY_BUTTONS = """() => [...document.querySelectorAll('main .nhsuk-button')]
  .filter(b => !/nhsuk-button--(secondary|reverse|warning)/.test(b.className))
  .filter(b => b.getClientRects().length).length"""


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login/" not in page.url, f"{username} could not sign in"


def check(page: Any, run: BrowserRun, name: str, *, heading: str = "") -> None:
    """axe and a screenshot (check_page), then what every page owes its user at either size."""
    check_page(page, run, name)
    if heading:
        assert heading in page.locator("h1").first.text_content(), name
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} scrolls sideways by {overflow} px"
    assert page.evaluate(PRIMARY_BUTTONS) <= 1, f"{name} has more than one primary action"


@pytest.mark.parametrize(
    "size",
    [
        # make test-all (CI runs it after make test and make test-pg).
        pytest.param("phone", marks=pytest.mark.heavy),
        # make bench: the same pages at desktop size (make test keeps the phone, where layouts
        # break first, and the journeys in test_journeys.py run at desktop size).
        pytest.param("desktop", marks=pytest.mark.slow),
    ],
)
def test_every_page_at_phone_and_desktop_sizes(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun, size: str
) -> None:
    base = live_server.url
    sent = make_referral(world, state=State.IN_REVIEW)
    draft = make_referral(world)
    lesion = draft.lesions.get()
    link = issue_status_link(sent)
    pages = {
        "alice": [
            ("my-referrals", "/referrals/", "referrals"),
            ("new-referral", "/referrals/new/", ""),
            ("draft", f"/referrals/{draft.pk}/", draft.reference),
            ("photos", f"/referrals/{draft.pk}/lesions/{lesion.pk}/photos/", ""),
            ("sent", f"/referrals/{sent.pk}/", sent.reference),
        ],
        "derek": [
            ("worklist", "/worklist/", "Worklist"),
            ("review", f"/referrals/{sent.pk}/", sent.reference),
            ("outcome", f"/referrals/{sent.pk}/outcome/", ""),
        ],
        "sam": [
            ("dashboard", "/dashboard/", "dashboard"),
            ("letters", "/letters/", "Letters"),
        ],
    }
    for _, viewport, phone in [entry for entry in SIZES if entry[0] == size]:
        anonymous = new_page(viewport, phone=phone)
        anonymous.goto(f"{base}/login/")
        check(anonymous, browser_run, f"pages-{size}-sign-in", heading="Sign in")
        anonymous.goto(base + link[link.index("/status/") :])
        check(anonymous, browser_run, f"pages-{size}-patient-status")
        for username, visits in pages.items():
            page = new_page(viewport, phone=phone)
            sign_in(page, base, username)
            for name, path, heading in visits:
                page.goto(base + path)
                check(page, browser_run, f"pages-{size}-{username}-{name}", heading=heading)

        # Two-factor set-up, as a clinician sees it at the first sign-in outside demo mode.
        with override_settings(REQUIRE_TWO_FACTOR=True):
            clinician = new_page(viewport, phone=phone)
            sign_in(clinician, base, "derek")
            assert "/account/two-factor/" in clinician.url
            check(clinician, browser_run, f"pages-{size}-two-factor")

        # Five wrong passwords lock the account (django-axes): the lock-out page, answered 429
        # (which the browser logs as a failed resource: expected here).
        browser_run.expected_console.append("status of 429 (Too Many Requests)")
        locked = new_page(viewport, phone=phone)
        for _ in range(5):
            locked.goto(f"{base}/login/")
            locked.fill("#id_username", f"pat-{size}")
            locked.fill("#id_password", "wrong password")
            with locked.expect_navigation():
                locked.click("button[type=submit]")
        assert "locked" in locked.locator("main").text_content()
        check(locked, browser_run, f"pages-{size}-locked-out")

    assert not browser_run.external, browser_run.external
    assert not browser_run.server_errors, browser_run.server_errors


@pytest.mark.slow  # make bench; make test keeps the every-page test and the Django-client ones
def test_comparison_messages_and_worklist_filters_in_the_browser(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    """GIVEN a patient seen before for the same lesion
    WHEN derek filters the worklist to urgent suspected cancer, opens the new referral, chooses
    the earlier photo, and writes to the GP
    THEN only the USC case is listed, the earlier photo opens beside the current one, and alice
    reads the message on her phone; all with the keyboard."""
    base = live_server.url
    earlier = make_referral(world, state=State.IN_REVIEW)
    routine = make_referral(world, state=State.AWAITING_REVIEW)
    current = make_referral(world, state=State.AWAITING_REVIEW, kind="usc", patient=earlier.patient)
    derm = new_page(DESKTOP)
    sign_in(derm, base, "derek")
    derm.goto(f"{base}/worklist/")
    derm.select_option("#id_kind", "usc")
    derm.locator("form.db-filters button[type=submit]").press("Enter")
    derm.wait_for_load_state()
    listed = derm.locator("main table").text_content()
    assert current.reference in listed and routine.reference not in listed
    check(derm, browser_run, "filters-desktop-worklist-usc")

    derm.goto(f"{base}/referrals/{current.pk}/")
    # The viewer module has started once its zoom controls are shown (they are hidden without it).
    derm.locator("[data-viewer-controls]").first.wait_for(state="visible")
    compare = derm.locator("[data-compare-src]").first
    assert earlier.reference in compare.get_attribute("data-compare-label")
    compare.focus()
    derm.keyboard.press("Enter")
    beside = derm.locator("[data-viewer-compare]").first
    beside.wait_for(state="visible")
    assert earlier.reference in derm.locator("[data-viewer-compare-caption]").first.text_content()
    check(derm, browser_run, "compare-desktop-side-by-side")

    derm.locator("#id_text").focus()
    derm.keyboard.type("Please send a photo with a ruler in frame.")
    derm.get_by_role("button", name="Send message").press("Enter")
    derm.wait_for_load_state()
    assert "Message sent." in derm.locator("main").text_content()

    gp = new_page(PHONE, phone=True)
    sign_in(gp, base, "alice")
    gp.goto(f"{base}/referrals/{current.pk}/#messages")
    assert "Please send a photo with a ruler in frame." in gp.locator("main").text_content()
    check(gp, browser_run, "messages-phone-gp-reads")
    assert not browser_run.external, browser_run.external
    assert not browser_run.server_errors, browser_run.server_errors
