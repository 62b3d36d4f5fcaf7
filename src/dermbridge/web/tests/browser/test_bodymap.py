"""The body map meets WCAG 2.2 target size for real: every region measured in the browser."""

from __future__ import annotations

from typing import Any

import pytest

from dermbridge.testing import World
from dermbridge.web.tests.browser.conftest import DESKTOP, PHONE, BrowserRun, check_page
from dermbridge.web.tests.browser.test_journeys import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "size",
    [
        pytest.param("phone", marks=pytest.mark.heavy),  # make test-all (CI)
        pytest.param("desktop", marks=pytest.mark.slow),  # make bench
    ],
)
def test_every_body_map_target_is_at_least_24_css_px_and_named(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun, size: str
) -> None:
    """GIVEN the new-referral page at 390×844 (touch) and 1280×800 WHEN each view of the body
    map is shown THEN every region's box is at least 24×24 CSS px, has a name saying the site,
    the patient's side and the view, and the drawing says which side is the patient's."""
    page = new_page(
        PHONE if size == "phone" else {"width": 1280, "height": 800}, phone=size == "phone"
    )
    _sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/referrals/new/")
    seen = 0
    for view in ("front", "back", "face"):
        page.click(f".db-bodymap button[data-view={view}]")
        regions = page.locator(f".db-bodymap svg[data-view={view}] [data-site-code]")
        assert regions.count() >= 12
        for i in range(regions.count()):
            box = regions.nth(i).bounding_box()
            name = regions.nth(i).get_attribute("aria-label")
            assert box and box["width"] >= 24 and box["height"] >= 24, (name, box)
            assert name and "(" in name
            seen += 1
        words = page.locator(
            f".db-bodymap svg[data-view={view}] .db-bodymap__side"
        ).all_text_contents()
        assert words == (
            ["Patient's left", "Patient's right"]
            if view == "back"
            else ["Patient's right", "Patient's left"]
        )
        check_page(page, browser_run, f"bodymap-{size}-{view}")
    assert seen >= 60
    page.click(".db-bodymap button[data-view=face]")
    page.click('[aria-label="Cheek, patient\'s right (face and head)"]')
    assert page.input_value("#id_lesion-body_site_code") == "60819002"
    assert page.input_value("#id_lesion-laterality") == "right"
    assert DESKTOP  # the conftest's desktop size is 1366×900; this test uses 1280×800
