"""A photo chosen before the page's script has loaded is sent once (a slow connection).

The photos page enhances its file input when ``upload.js`` arrives (a dynamic import): from then
on each photo is sent as soon as it is chosen, and the plain form's "Upload" button is hidden.
A photo chosen before that fired its change event unheard; without the check in ``enhance`` it
would sit in the input with no upload and no button — lost to the GP although they chose it.
If the GP had already pressed the plain "Upload" button, the late send carries the form's
one-time token, so the server stores the photo once, whichever request arrives first.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.referrals.models import Referral
from dermbridge.testing import World, make_referral
from dermbridge.web.tests.browser.conftest import PHONE, BrowserRun
from dermbridge.web.tests.browser.test_journeys import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.heavy, pytest.mark.django_db(transaction=True)]

UPLOAD_SCRIPT = re.compile(r".*/web/upload(\.[0-9a-f]+)?\.js$")
PHOTOS = re.compile(r".*/photos/$")


def _until(page: Any, done: Any, what: str, seconds: float = 20.0) -> None:
    """Let the page run (route handlers included) until ``done()`` holds."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"waited {seconds:.0f} s for {what}"
        page.wait_for_timeout(50)


def _draft_photos_page(
    live_server: Any, world: World, new_page: Any, tmp_path: Path
) -> tuple[Any, Referral, Path, list[Any]]:
    """alice's draft without photos, her phone on its photos page with upload.js held back."""
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    photo = tmp_path / "overview.jpg"
    photo.write_bytes(lesion_photo(1600, 1200, seed=3, kind="overview"))
    page = new_page(PHONE, phone=True)
    _sign_in(page, live_server.url, "alice")
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)  # answered by the test, after the photo is chosen

    page.route(UPLOAD_SCRIPT, hold)
    page.goto(
        f"{live_server.url}/referrals/{referral.pk}/lesions/{lesion.pk}/photos/",
        wait_until="domcontentloaded",
    )
    _until(page, lambda: held, "the page to ask for upload.js")
    assert page.get_attribute("#id_photos", "data-enhanced") is None  # not enhanced yet
    assert page.eval_on_selector("input[name=image_type]:checked", "el => el.value") == "overview"
    page.set_input_files("#id_photos", str(photo))
    return page, referral, photo, held


def test_a_photo_chosen_before_the_upload_script_loads_is_sent(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun, tmp_path: Path
) -> None:
    """GIVEN alice's draft without photos, on a phone whose connection holds back the upload
    script WHEN she chooses the overview photo before the script arrives THEN, once it arrives,
    the photo is sent and stored on the lesion, once, marked done like any other."""
    page, referral, _, held = _draft_photos_page(live_server, world, new_page, tmp_path)
    held[0].continue_()
    page.wait_for_selector("[data-upload-state='done'][data-image-type='overview']", timeout=20_000)
    assert page.get_attribute("#id_photos", "data-enhanced") == "true"
    assert page.locator(".db-upload__item").count() == 1
    lesion = referral.lesions.get()
    assert [image.image_type for image in lesion.images.all()] == ["overview"]
    assert not browser_run.server_errors


def test_a_photo_posted_by_the_plain_form_and_again_by_the_late_script_is_stored_once(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun, tmp_path: Path
) -> None:
    """GIVEN the photo chosen before the script arrived WHEN alice presses the plain "Upload"
    button and the script then arrives and sends the same photo too (the script's request
    reaching the server first) THEN the lesion has the photo once: the second request carries
    the same one-time token and is answered as the first."""
    page, referral, _, held = _draft_photos_page(live_server, world, new_page, tmp_path)
    posts: list[Any] = []

    def hold_post(route: Any) -> None:
        if route.request.method == "POST":
            posts.append(route)
        else:
            route.continue_()

    page.route(PHOTOS, hold_post)
    page.click("#upload-button", no_wait_after=True)
    _until(page, lambda: len(posts) == 1, "the plain form's POST")
    assert posts[0].request.resource_type == "document"
    held[0].continue_()
    _until(page, lambda: len(posts) == 2, "the script's late send of the same photo")
    assert posts[1].request.resource_type == "xhr"
    lesion = referral.lesions.get()
    posts[1].continue_()
    _until(page, lambda: lesion.images.count() == 1, "the script's send to be stored")
    with page.expect_navigation():
        posts[0].continue_()
    page.unroute(PHOTOS, hold_post)
    assert [image.image_type for image in lesion.images.all()] == ["overview"]
    assert not browser_run.server_errors
