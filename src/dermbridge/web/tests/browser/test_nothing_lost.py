"""Nothing lost, nobody oversteps (issue #9) in a real browser at phone size.

- Pressing "Send to …" saves the question and history typed above it first.
- "Delete this draft" is a link away from "Save draft" to a confirmation page (no JavaScript
  needed) with a warning button; "No, go back" keeps the draft.
- A lesion can be changed and removed (after confirmation) while the referral is a draft.
- A session that ends mid-form keeps what was typed: after signing in again the page shows it,
  unsaved, and "Save draft" saves it.
- A hub photographer sees the photos and consent, not the question, history, lesions' controls,
  Send or Delete.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.models import Session

from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.testing import DEFAULT_LESION, World, make_referral
from dermbridge.web.tests.browser.conftest import PHONE, BrowserRun, check_page
from dermbridge.web.tests.browser.test_journeys import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _hub_draft(world: World, **kwargs: Any) -> Referral:
    referral = make_referral(world, kind=ReferralKind.URGENT_CANCER, **kwargs)
    Referral.objects.filter(pk=referral.pk).update(imaging_hub=world.hub)
    return Referral.objects.get(pk=referral.pk)


def test_send_saves_what_was_typed_first_on_a_phone(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    """GIVEN alice's complete draft WHEN on her phone she rewrites the question and a history
    answer and presses "Send to …" (not "Save draft") THEN the referral is sent with the new
    question and answer: nothing typed is lost."""
    referral = _hub_draft(world)
    page = new_page(PHONE, phone=True)
    _sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/referrals/{referral.pk}/edit/")
    check_page(page, browser_run, "nothing-lost-1-draft-phone")
    page.fill("#id_clinical_question", "Rapidly growing nodule: melanoma?")
    if not page.locator("#id_history-bleeding_0").is_visible():
        page.click("text=More history")  # the rest of the history is folded away
    page.check("#id_history-bleeding_0")  # "Yes"
    send = page.locator("#send-referral")
    save = page.locator("#save-draft")
    assert send.bounding_box()["y"] > page.locator("#id_clinical_question").bounding_box()["y"]
    delete = page.locator("#delete-draft")
    # "Delete this draft" is a plain link well away from "Save draft", after "Send".
    assert delete.bounding_box()["y"] > send.bounding_box()["y"] > save.bounding_box()["y"]
    with page.expect_navigation():
        send.click()
    referral.refresh_from_db()
    assert referral.state in (State.SUBMITTED, State.AWAITING_REVIEW)  # sent
    assert referral.clinical_question == "Rapidly growing nodule: melanoma?"
    assert referral.history.bleeding == "yes"
    assert not browser_run.external and not browser_run.server_errors


def test_delete_asks_for_confirmation_on_a_phone(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    """GIVEN alice's draft WHEN she follows "Delete this draft" THEN a confirmation page asks
    first (a warning button, a way back); going back keeps the draft; confirming deletes it."""
    referral = _hub_draft(world)
    page = new_page(PHONE, phone=True)
    page.context.set_extra_http_headers({})
    _sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/referrals/{referral.pk}/edit/")
    with page.expect_navigation():
        page.click("#delete-draft")
    assert page.locator("h1").text_content().startswith("Delete draft")
    assert "nhsuk-button--warning" in page.locator("#confirm-button").get_attribute("class")
    check_page(page, browser_run, "nothing-lost-2-delete-confirm-phone")
    with page.expect_navigation():
        page.click("#confirm-cancel")
    assert Referral.objects.filter(pk=referral.pk).exists()
    with page.expect_navigation():
        page.click("#delete-draft")
    with page.expect_navigation():
        page.click("#confirm-button")
    assert not Referral.objects.filter(pk=referral.pk).exists()
    assert "Draft deleted" in page.content()
    assert not browser_run.external and not browser_run.server_errors


def test_delete_confirmation_works_without_javascript(
    live_server: Any, world: World, chromium: Any, browser_run: BrowserRun
) -> None:
    referral = _hub_draft(world)
    context = chromium.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=False
    )
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "correct-horse-battery")
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.goto(f"{live_server.url}/referrals/{referral.pk}/delete/")
        with page.expect_navigation():
            page.click("#confirm-button")
        assert not Referral.objects.filter(pk=referral.pk).exists()
    finally:
        context.close()


def test_lesions_are_changed_and_removed_on_a_draft_on_a_phone(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    """GIVEN alice's draft with two lesions WHEN she changes lesion 2's size and removes
    lesion 1 (confirming) THEN the change is saved and the other lesion becomes lesion 1."""
    second = {**DEFAULT_LESION, "body_site_code": "45206002", "laterality": "", "size_mm": 3}
    referral = _hub_draft(world, lesions=[DEFAULT_LESION, second], images=False)
    lesion_2 = referral.lesions.get(number=2)
    page = new_page(PHONE, phone=True)
    _sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/referrals/{referral.pk}/edit/")
    with page.expect_navigation():
        page.click(f"a[href='/referrals/{referral.pk}/lesions/{lesion_2.pk}/change/']")
    check_page(page, browser_run, "nothing-lost-3-change-lesion-phone")
    page.fill("#id_lesion-size_mm", "4.5")
    with page.expect_navigation():
        page.click("button[type=submit]")
    lesion_2.refresh_from_db()
    assert str(lesion_2.size_mm) == "4.5"
    lesion_1 = referral.lesions.get(number=1)
    with page.expect_navigation():
        page.click(f"a[href='/referrals/{referral.pk}/lesions/{lesion_1.pk}/remove/']")
    check_page(page, browser_run, "nothing-lost-4-remove-lesion-phone")
    with page.expect_navigation():
        page.click("#confirm-button")
    assert list(referral.lesions.values_list("number", "body_site_code")) == [(1, "45206002")]
    assert not browser_run.external and not browser_run.server_errors


def test_a_session_that_ends_mid_form_keeps_what_was_typed(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    """GIVEN alice is editing a draft on her phone WHEN her session ends before she presses
    "Save draft" THEN she is asked to sign in again, the page comes back with what she typed
    (marked "Not saved yet"), and "Save draft" saves it."""
    referral = _hub_draft(world)
    page = new_page(PHONE, phone=True)
    _sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/referrals/{referral.pk}/edit/")
    page.fill("#id_clinical_question", "Typed before the session ended")
    Session.objects.all().delete()  # the idle limit passed
    with page.expect_navigation():
        page.click("#save-draft")
    assert "/login/" in page.url
    assert "signed out before your changes were saved" in page.content()
    page.fill("#id_username", "alice")
    page.fill("#id_password", "correct-horse-battery")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert f"/referrals/{referral.pk}/edit/" in page.url
    assert page.locator("#unsaved-restored").is_visible()
    assert page.input_value("#id_clinical_question") == "Typed before the session ended"
    check_page(page, browser_run, "nothing-lost-5-restored-after-sign-in-phone")
    referral.refresh_from_db()
    assert referral.clinical_question != "Typed before the session ended"  # not saved silently
    with page.expect_navigation():
        page.click("#save-draft")
    referral.refresh_from_db()
    assert referral.clinical_question == "Typed before the session ended"
    assert not browser_run.external and not browser_run.server_errors


def test_a_hub_photographer_sees_only_the_photo_controls(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    """GIVEN alice's urgent draft names Northgate Photo Hub WHEN pat opens it on his phone
    THEN he sees the lesions and their photo links, not the question, history, pathway, lesion
    changes, Send or Delete; the delete page itself answers 403."""
    referral = _hub_draft(world)
    page = new_page(PHONE, phone=True)
    _sign_in(page, live_server.url, "pat")
    page.goto(f"{live_server.url}/referrals/{referral.pk}/edit/")
    for hidden in (
        "#id_clinical_question",
        "input[name=kind]",
        "#id_history-bleeding_0",
        "#send-referral",
        "#delete-draft",
        "#id_lesion-body_site_code",
    ):
        assert page.locator(hidden).count() == 0, hidden
    assert page.locator("a[href*='/change/'], a[href*='/remove/']").count() == 0
    assert page.locator("a[href*='/photos/']").count() == 1
    check_page(page, browser_run, "nothing-lost-6-hub-photographer-draft-phone")
    # Asked for directly (outside the page, so no console error): refused.
    response = page.request.get(f"{live_server.url}/referrals/{referral.pk}/delete/")
    assert response.status == 403
    assert Referral.objects.filter(pk=referral.pk).exists()
