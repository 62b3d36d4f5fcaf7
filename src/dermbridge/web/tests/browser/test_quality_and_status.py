"""Issue #9 at 390x844 in a real browser: the photo page's quality results (amber until kept,
"Keep this photo", the AI's own note) and the patient's status page and its 404 for a bad link.
axe, a screenshot (test-artifacts/browser/), no sideways scroll and no console error on each."""

from __future__ import annotations

from typing import Any

import pytest

from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.notifications.services import issue_status_link
from dermbridge.referrals.models import State
from dermbridge.testing import World, make_referral
from dermbridge.triage.inference import OOD_REASON
from dermbridge.triage.models import Assessment
from dermbridge.web.tests.browser.conftest import PHONE, BrowserRun, check_page
from dermbridge.web.tests.browser.test_pages import sign_in

# make bench; in make test: the every-page browser test opens the photo and status pages, and
# web/tests/test_referring.py and notifications/tests/test_status_page.py check them by client.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_photo_page_amber_warning_kept_on_a_phone(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    base = live_server.url
    draft = make_referral(world)
    lesion = draft.lesions.get()
    close_up = LesionImage.objects.get(lesion=lesion, image_type=ImageType.CLOSE_UP)
    close_up.quality = {
        "blur": {"ok": False, "score": 0.7, "message": "Blurred: hold still.", "blocking": False},
        "glare": {"ok": False, "score": 0.05, "message": "Glare: tilt it.", "blocking": False},
    }
    close_up.save()
    dermoscopic = LesionImage.objects.get(lesion=lesion, image_type=ImageType.DERMOSCOPIC)
    Assessment.objects.create(
        image=dermoscopic, model_version="t", input_sha256="0" * 64, abstained=True,
        abstention_reason=OOD_REASON,
    )  # fmt: skip
    page = new_page(PHONE, phone=True)
    sign_in(page, base, "alice")
    page.goto(f"{base}/referrals/{draft.pk}/lesions/{lesion.pk}/photos/")
    warned = page.locator("li[data-verdict=warning]")
    assert warned.count() == 1
    assert "Check this photo" in warned.text_content()
    tag_colour = warned.locator(".nhsuk-tag").evaluate("e => getComputedStyle(e).backgroundColor")
    assert tag_colour != "rgb(204, 239, 218)", "a warned photo must not be green"
    assert "Keep or retake:" in page.locator(".db-checklist").text_content()
    assert page.locator(".db-complete").count() == 0
    note = page.locator("li[data-verdict=passed] .db-ai-note")
    assert note.count() == 1 and "not a problem with the photo's quality" in note.text_content()
    assert page.evaluate(NO_SIDEWAYS) <= 0
    check_page(page, browser_run, "quality-phone-photo-warning")

    with page.expect_navigation():
        warned.get_by_role("button", name="Keep this photo").click()
    assert page.locator("li[data-verdict=kept]").count() == 1
    assert "Kept with a warning" in page.locator("li[data-verdict=kept]").text_content()
    assert page.locator(".db-complete").count() == 1
    check_page(page, browser_run, "quality-phone-photo-kept")
    close_up.refresh_from_db()
    assert close_up.quality_acknowledged_by == world.alice
    assert not browser_run.external and not browser_run.server_errors


def test_status_page_and_bad_link_on_a_phone(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    world.service.patient_phone = "0161 496 0000"
    world.service.patient_phone_hours = "Monday to Friday, 9am to 5pm"
    world.service.save()
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    link = issue_status_link(referral)
    page = new_page(PHONE, phone=True)
    page.goto(live_server.url + link[link.index("/status/") :])
    main = page.locator("main").text_content()
    assert referral.reference in main and "0161 496 0000" in main
    assert "waiting for a skin specialist" in main
    assert page.locator("time").count() == 1
    phone = page.locator("a.phone").bounding_box()
    assert phone["height"] >= 24 and phone["width"] >= 24  # WCAG 2.2 target size
    assert page.evaluate(NO_SIDEWAYS) <= 0
    check_page(page, browser_run, "status-phone-waiting")

    browser_run.expected_console.append("status of 404")  # the bad link is meant to be a 404
    response = page.goto(f"{live_server.url}/status/{'A' * 43}/")
    assert response is not None and response.status == 404
    assert page.locator("h1").text_content() == "This link does not work"
    assert referral.reference not in page.content()
    assert page.evaluate(NO_SIDEWAYS) <= 0
    font_px = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('main p')).fontSize)"
    )
    assert font_px >= 16
    check_page(page, browser_run, "status-phone-bad-link")
    assert not browser_run.external and not browser_run.server_errors
