"""The hub photographer's capture on a phone: the page follows the photo checks by itself."""

from __future__ import annotations

from typing import Any

import pytest

from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.referrals import services
from dermbridge.testing import (
    DEFAULT_HISTORY,
    DEFAULT_LESION,
    World,
    attach_ready_image,
    make_patient,
)
from dermbridge.web.tests.browser.conftest import PHONE, BrowserRun, check_page
from dermbridge.web.tests.browser.test_journeys import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_it_refreshes_the_photo_checks_for_the_hub_photographer_on_a_phone(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    """GIVEN alice's draft names Northgate Photo Hub, with an overview and a close-up of which
    the close-up is still being checked WHEN pat opens the lesion's photos on his phone and the
    check finishes THEN the page shows the result and the next photo needed without a reload,
    offers no New referral and no Send, and passes axe-core."""
    referral = services.create_referral(
        user=world.alice,
        patient=make_patient(world.practice_a, world.alice),
        kind="ras",
        service=world.service,
        referring_org=world.practice_a,
        imaging_hub=world.hub,
        clinical_question="Please photograph the lesion on the back.",
        history=DEFAULT_HISTORY,
        lesions=[DEFAULT_LESION],
    )
    lesion = referral.lesions.get()
    attach_ready_image(lesion, ImageType.OVERVIEW, world.alice)
    close_up = attach_ready_image(lesion, ImageType.CLOSE_UP, world.alice)
    LesionImage.objects.filter(pk=close_up.pk).update(status=ImageStatus.PROCESSING)

    page = new_page(PHONE, phone=True)
    _sign_in(page, live_server.url, "pat")
    assert page.locator("a[href='/referrals/new/']").count() == 0
    page.goto(f"{live_server.url}/referrals/{referral.pk}/lesions/{lesion.pk}/photos/")
    status = page.locator("#db-photo-status")
    assert "Being checked" in status.text_content()
    assert status.get_attribute("data-poll") == "true"
    check_page(page, browser_run, "hub-phone-1-photos-checking")

    LesionImage.objects.filter(pk=close_up.pk).update(status=ImageStatus.READY)
    page.wait_for_selector("#db-photo-status[data-poll='false']", timeout=10_000)
    refreshed = page.locator("#db-photo-status")
    assert "Being checked" not in refreshed.text_content()
    assert refreshed.get_attribute("data-next-type") == "dermoscopic"
    assert page.locator("input[name=image_type][value=dermoscopic]").is_checked()
    check_page(page, browser_run, "hub-phone-2-photos-checked")

    page.goto(f"{live_server.url}/referrals/{referral.pk}/edit/")
    assert page.locator("#send-referral").count() == 0
    check_page(page, browser_run, "hub-phone-3-draft")
    assert not browser_run.external and not browser_run.server_errors
