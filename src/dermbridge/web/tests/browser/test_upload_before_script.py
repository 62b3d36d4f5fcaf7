"""A photo chosen before the page's script has loaded is still sent (a slow connection).

The photos page enhances its file input when ``upload.js`` arrives (a dynamic import): from then
on each photo is sent as soon as it is chosen, and the plain form's "Upload" button is hidden.
A photo chosen before that fired its change event unheard; without the check in ``enhance`` it
would sit in the input with no upload and no button — lost to the GP although they chose it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.testing import World, make_referral
from dermbridge.web.tests.browser.conftest import PHONE, BrowserRun
from dermbridge.web.tests.browser.test_journeys import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.heavy, pytest.mark.django_db(transaction=True)]

UPLOAD_SCRIPT = re.compile(r".*/web/upload(\.[0-9a-f]+)?\.js$")


def test_a_photo_chosen_before_the_upload_script_loads_is_sent(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun, tmp_path: Path
) -> None:
    """GIVEN alice's draft without photos, on a phone whose connection holds back the upload
    script WHEN she chooses the overview photo before the script arrives THEN, once it arrives,
    the photo is sent and stored on the lesion, marked done like any other."""
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    photo = tmp_path / "overview.jpg"
    photo.write_bytes(lesion_photo(1600, 1200, seed=3, kind="overview"))
    page = new_page(PHONE, phone=True)
    _sign_in(page, live_server.url, "alice")

    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)  # answered below, after the photo is chosen

    page.route(UPLOAD_SCRIPT, hold)
    page.goto(
        f"{live_server.url}/referrals/{referral.pk}/lesions/{lesion.pk}/photos/",
        wait_until="domcontentloaded",
    )
    for _ in range(200):  # the page asks for the script once its own module has run
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the photos page never asked for upload.js"
    assert page.get_attribute("#id_photos", "data-enhanced") is None  # not enhanced yet
    assert page.eval_on_selector("input[name=image_type]:checked", "el => el.value") == "overview"
    page.set_input_files("#id_photos", str(photo))

    held[0].continue_()
    page.unroute(UPLOAD_SCRIPT, hold)
    page.wait_for_selector("[data-upload-state='done'][data-image-type='overview']", timeout=20_000)
    assert page.get_attribute("#id_photos", "data-enhanced") == "true"
    assert [image.image_type for image in lesion.images.all()] == ["overview"]
    assert not browser_run.server_errors
