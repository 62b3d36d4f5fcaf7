"""Every role's main journey in a real browser (headless Chromium), at phone and desktop sizes.

A GP signs in and sends a referral with photos using the keyboard alone, on a phone-sized
screen; a dermatologist on a desktop finds it on the worklist by keyboard, opens the image
viewer, and records an outcome; the GP sees the advice; the patient opens their status link;
the service administrator's dashboard is checked too. Every page is checked with axe-core and
screenshotted under test-artifacts/browser/; no request may leave this machine.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.notifications.services import issue_status_link
from dermbridge.referrals.models import Referral, State
from dermbridge.referrals.services import submit_referral
from dermbridge.testing import World, make_patient, make_referral, nhs_number_for
from dermbridge.web.tests.browser.conftest import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    BrowserRun,
    check_page,
    tab_to,
)

# make test-all (CI runs it after make test and make test-pg); make test keeps the Django-client
# journeys over the same views (web/tests/test_referring.py, test_review.py) and a browser check.
pytestmark = [pytest.mark.browser, pytest.mark.heavy, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"

TIMINGS: dict[str, float] = {}


def _photo_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for seed, kind in enumerate(("overview", "close_up", "dermoscopic")):
        path = tmp_path / f"{kind}.jpg"
        # A phone camera's resolution (>= 1200 px short side): no quality warning to keep.
        path.write_bytes(lesion_photo(1600, 1200, seed=seed + 3, kind=kind))
        files[kind] = path
    return files


def _sign_in(page: Any, base: str, username: str) -> None:
    """Sign in with the keyboard alone: Tab to each field, type, Enter."""
    page.goto(f"{base}/login/")
    tab_to(page, "#id_username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login/" not in page.url, "sign-in failed"


def _type_into(page: Any, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def _choose_radio(page: Any, name: str, value: str) -> None:
    """Radios by keyboard: Tab reaches the group's first radio; arrow keys move the choice."""
    radios = page.locator(f"input[type=radio][name='{name}']")
    values = [radios.nth(i).get_attribute("value") for i in range(radios.count())]
    tab_to(page, f"input[type=radio][name='{name}']")
    current = page.evaluate(
        "n => [...document.getElementsByName(n)].findIndex(e => e === document.activeElement)", name
    )
    target = values.index(value)
    for _ in range((target - current) % len(values)):
        page.keyboard.press("ArrowDown")  # moves and checks, wrapping at the end
    page.keyboard.press("Space")
    assert page.locator(f"input[name='{name}'][value='{value}']").is_checked()


def _select(page: Any, selector: str, label: str) -> None:
    """A select by keyboard: focus it and type the start of the option's label."""
    tab_to(page, selector)
    page.keyboard.type(label)
    chosen = page.eval_on_selector(selector, "el => el.options[el.selectedIndex].text")
    assert chosen.startswith(label), chosen


def gp_sends_a_referral_by_keyboard(
    page: Any, base: str, world: World, run: BrowserRun, photos: dict[str, Path]
) -> Referral:
    _sign_in(page, base, "alice")
    check_page(page, run, "gp-phone-1-my-referrals")
    tab_to(page, "a[href='/referrals/new/']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/referrals/new/$"))
    check_page(page, run, "gp-phone-2-new-referral")

    _type_into(page, "#id_patient-nhs_number", nhs_number_for(4343))
    # Not one of the practice's patients: "Find patient" opens the new-patient fields.
    tab_to(page, "#find-patient")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#patient-not-found").count() == 1
    _type_into(page, "#id_patient-given_name", "Maya")
    _type_into(page, "#id_patient-family_name", "Okonkwo")
    # The NHS date pattern: day, month and year in three boxes.
    _type_into(page, "#id_patient-date_of_birth-day", "2")
    _type_into(page, "#id_patient-date_of_birth-month", "3")
    _type_into(page, "#id_patient-date_of_birth-year", "1971")
    _select(page, "#id_patient-sex", "Female")
    _type_into(page, "#id_patient-email", "maya@example.org")
    tab_to(page, "#id_patient-consent_direct_care")
    page.keyboard.press("Space")
    _choose_radio(page, "kind", "ag")
    _select(page, "#id_service", world.service.name)
    _type_into(page, "#id_clinical_question", "Changing mole on the back: melanoma?")
    for name in ("changed_size", "changed_shape", "changed_colour"):
        _choose_radio(page, f"history-{name}", "yes" if name == "changed_size" else "no")
    choose_body_site_by_keyboard(page)
    tab_to(page, "#id_lesion-pigmented")
    page.keyboard.press("Space")
    tab_to(page, "#save-draft")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/lesions/\d+/photos/$"))
    referral = Referral.objects.get(patient__family_name="Okonkwo")
    check_page(page, run, "gp-phone-3-photos-empty")

    # Intercept the file dialog from the start: enabling it lazily can miss the first dialog.
    page.on("filechooser", lambda chooser: None)
    # A file that is not a photo is refused at once, saying what it is: "Not uploaded", never
    # "Uploaded", and nothing is left on the lesion to remove by hand (issue #9).
    bad = photos["overview"].with_name("not-a-photo.jpg")
    bad.write_bytes(b"this is not an image")
    upload_by_keyboard(page, "close_up", bad, expect="failed")
    refused = page.locator("[data-upload-state='failed'][data-image-type='close_up']")
    said = refused.text_content()
    assert "Not uploaded:" in said and "this is a text file, not a photo" in said.lower()
    assert referral.lesions.get().images.count() == 0

    # The connection drops during an upload: the photo is marked, and Retry (focused) sends it.
    dropped: list[str] = []

    def drop_first_post(route: Any) -> None:
        if route.request.method == "POST" and not dropped:
            dropped.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    # The dropped request is logged by the browser as a failed resource: expected here.
    run.expected_console.append("Failed to load resource: net::ERR_FAILED")
    page.route(re.compile(r".*/photos/$"), drop_first_post)
    upload_by_keyboard(page, "overview", photos["overview"], expect="failed")
    assert page.evaluate("document.activeElement.textContent") == "Try overview.jpg again"
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-upload-state='done'][data-image-type='overview']")
    page.unroute(re.compile(r".*/photos/$"))
    assert dropped
    for kind in ("close_up", "dermoscopic"):
        upload_by_keyboard(page, kind, photos[kind])
    page.wait_for_selector("[data-image-set-complete='true']", timeout=20_000)
    check_page(page, run, "gp-phone-4-photos-done")

    # Sent from the photos page, through "Check your answers" (the NHS pattern).
    tab_to(page, "#continue-to-check")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/referrals/\d+/check/$"))
    check_page(page, run, "gp-phone-5-check-answers")
    tab_to(page, "#send-referral")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/referrals/{referral.pk}/$"))
    check_page(page, run, "gp-phone-6-sent")
    referral.refresh_from_db()
    assert referral.state not in (State.DRAFT,)
    return referral


def choose_body_site_by_keyboard(page: Any) -> None:
    """The body map: Tab to the 'Back' view, Enter shows it; Tab into the map, arrow to
    'Upper back', Enter picks it and fills the select (a region with no side clears the side)."""
    if page.locator(".db-bodymap").count() == 0:
        _select(page, "#id_lesion-body_site_code", "Upper back")
        return
    tab_to(page, ".db-bodymap button[data-view=back]")
    page.keyboard.press("Enter")
    tab_to(page, ".db-bodymap svg[data-view=back] [data-site-code]")
    for _ in range(40):
        name = page.evaluate("document.activeElement.getAttribute('aria-label') || ''")
        if name.startswith("Upper back (back of the body)"):
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.locator("#id_lesion-body_site_code").input_value() == "699893008"
    assert page.locator("#id_lesion-laterality").input_value() == ""


def upload_by_keyboard(page: Any, kind: str, path: Path, *, expect: str = "done") -> None:
    """Choose the photo type with the arrow keys, open the camera/file picker with Space."""
    _choose_radio(page, "image_type", kind)
    tab_to(page, "#id_photos")
    chosen: list[Any] = []
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chosen.append(chooser.value)
    chosen[0].set_files(str(path))
    if page.locator("#id_photos[data-enhanced]").count():
        # The upload module sends the file at once and shows its progress and result.
        page.wait_for_selector(f"[data-upload-state='{expect}'][data-image-type='{kind}']")
    else:
        tab_to(page, "#upload-button")
        page.keyboard.press("Enter")
        page.wait_for_load_state()


def dermatologist_reviews_on_desktop(
    page: Any, base: str, referral: Referral, run: BrowserRun
) -> None:
    """Keyboard only, as for the GP: worklist (J, Enter), start the review, zoom the viewer, then
    the outcome form with the diagnosis found by typing in the search box."""
    _sign_in(page, base, "derek")
    page.goto(f"{base}/worklist/")
    check_page(page, run, "derm-desktop-1-worklist")
    page.evaluate(
        "document.activeElement && document.activeElement.blur()"
    )  # focus on the page body
    page.keyboard.press("j")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == referral.reference
    assert referral.reference in page.locator("[aria-live]").last.text_content()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/referrals/{referral.pk}/")
    tab_to(page, "form[action$='/act/claim/'] button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("[data-viewer-controls]:not([hidden])")
    tab_to(page, "[data-zoom='in']")
    page.keyboard.press("Enter")
    # Panzoom applies the zoom on an animation frame: wait for it (a loaded machine is slow).
    page.wait_for_function(
        "() => { const t = document.querySelector('[data-viewer-image]').style.transform;"
        " return t.includes('scale') && !t.includes('scale(1)'); }",
        timeout=10_000,
    )
    transform = page.eval_on_selector("[data-viewer-image]", "el => el.style.transform")
    assert "scale" in transform and "scale(1)" not in transform, transform
    full = page.get_attribute("[data-viewer-full]", "href")
    assert full is not None and full.endswith("/master/")
    assert page.request.get(f"{base}{full}").status == 200
    check_page(page, run, "derm-desktop-2-review")
    # The outcome form is beside the photos on the review page itself (issue #9): no other page.
    assert page.locator("#outcome form.db-outcome").count() == 1
    # The whole outcome form by keyboard: type to filter the coded list, End picks the match.
    # Each lesion has its own fieldset (issue #14): lesion 1's diagnosis, then its management.
    dx = "#id_lesion-1-diagnosis_code"
    tab_to(page, f"{dx}-filter")
    page.keyboard.type("melanocytic naevus")
    options = page.eval_on_selector(dx, "el => [...el.options].map(o => o.text)")
    assert options and all("naevus" in o.lower() for o in options if o != "Choose…"), options
    tab_to(page, dx)
    page.keyboard.press("End")
    chosen = page.eval_on_selector(dx, "el => el.options[el.selectedIndex].text")
    assert "naevus" in chosen.lower(), chosen
    tab_to(page, "#id_lesion-1-management")
    page.keyboard.type("Dis")  # a select takes typed letters: Discharge
    assert page.input_value("#id_lesion-1-management") == "discharge"
    for selector, text in (
        ("#id_management_plan", "Routine monitoring; photograph again in 3 months."),
        ("#id_advice_to_referrer", "Benign naevus. No referral needed; review if it changes."),
        ("#id_patient_explanation", "The mole looks harmless. Your GP will check it again."),
    ):
        tab_to(page, selector)
        page.keyboard.type(text)
    check_page(page, run, "derm-desktop-3-outcome")
    tab_to(page, "form.db-outcome button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/referrals/{referral.pk}/")
    check_page(page, run, "derm-desktop-4-advice-sent")


def test_it_runs_each_roles_journey_in_a_real_browser(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun, tmp_path: Path
) -> None:
    """GIVEN the personas and a live server WHEN alice (phone, keyboard only) sends a referral
    with three photos, derek (desktop) reviews it and sends advice, alice reads it and the
    patient opens the status link THEN each step works, every page passes axe-core with no
    serious or critical violation, and no request leaves this machine."""
    base = live_server.url
    photos = _photo_files(tmp_path)

    started = time.perf_counter()
    gp = new_page(PHONE, phone=True)
    referral = gp_sends_a_referral_by_keyboard(gp, base, world, browser_run, photos)
    TIMINGS["gp_sends_referral_keyboard_phone"] = time.perf_counter() - started
    referral.refresh_from_db()
    assert referral.state == State.AWAITING_REVIEW

    started = time.perf_counter()
    derm = new_page(DESKTOP)
    dermatologist_reviews_on_desktop(derm, base, referral, browser_run)
    TIMINGS["dermatologist_reviews_desktop"] = time.perf_counter() - started
    referral.refresh_from_db()
    assert referral.state == State.ADVICE_GIVEN

    started = time.perf_counter()
    gp.goto(f"{base}/referrals/{referral.pk}/")
    assert "Benign naevus. No referral needed" in gp.locator("main").text_content()
    check_page(gp, browser_run, "gp-phone-7-advice")
    TIMINGS["gp_reads_advice_phone"] = time.perf_counter() - started

    started = time.perf_counter()
    link = issue_status_link(referral)
    patient = new_page(PHONE, phone=True)
    patient.goto(base + link[link.index("/status/") :])
    assert "The mole looks harmless" in patient.locator("main").text_content()
    check_page(patient, browser_run, "patient-phone-status")
    TIMINGS["patient_opens_status_phone"] = time.perf_counter() - started

    admin = new_page(DESKTOP)
    _sign_in(admin, base, "sam")
    admin.goto(f"{base}/dashboard/")
    assert "Service dashboard" in admin.locator("h1").text_content()
    check_page(admin, browser_run, "admin-desktop-dashboard")

    # A letter-only patient: the administrator prints their letter and marks it posted.
    by_post = make_patient(world.practice_a, world.alice, contact_preference="letter")
    posted = make_referral(world, patient=by_post)
    submit_referral(posted, user=world.alice)
    admin.goto(f"{base}/letters/")
    assert posted.reference in admin.locator("main").text_content()
    check_page(admin, browser_run, "admin-desktop-letters")
    admin.get_by_label(f"Letter to {by_post} about referral received has been posted").press(
        "Space"
    )
    admin.get_by_role("button", name="Mark chosen letters as posted").press("Enter")
    admin.wait_for_load_state()
    assert "1 letter marked as posted." in admin.locator("main").text_content()

    assert not browser_run.external, browser_run.external
    assert not browser_run.server_errors, browser_run.server_errors
    (ARTIFACTS / "timings.txt").write_text(
        "\n".join(f"{k}: {v:.1f} s" for k, v in TIMINGS.items()) + "\n"
    )
    (ARTIFACTS / "axe.json").write_text(json.dumps(browser_run.axe, indent=2))
    (ARTIFACTS / "check-seconds.json").write_text(json.dumps(browser_run.check_seconds, indent=2))
    (ARTIFACTS / "page-weights.json").write_text(json.dumps(browser_run.bytes_by_page, indent=2))
    assert all(
        not counts.get("serious") and not counts.get("critical")
        for counts in browser_run.axe.values()
    )
