"""The dermatologist's screen in a real browser (issue #9, item 6): at 1440x900 the photos and the
outcome form sit side by side with Record in view without scrolling (measured, not assumed); a
service explanation is picked and edited; "Save and next case" opens the next case in one click;
at 390x844 the same page stacks. axe-core on every page, as in the other browser tests."""

from __future__ import annotations

from typing import Any

import pytest

from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.referrals.models import ExplanationTemplate, Referral, State
from dermbridge.testing import World, make_referral
from dermbridge.triage.models import Assessment
from dermbridge.triage.services import update_referral_risk
from dermbridge.web.tests.browser.conftest import PHONE, BrowserRun, check_page

# make bench; in make test: web/tests/test_review_screen.py (the same screen through the
# Django client), and the journey and every-page browser tests, which open it.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"
WIDE = {"width": 1440, "height": 900}
RECORD = "form.db-outcome button[type=submit]:not([name])"
NEXT = "form.db-outcome button[name=then][value=next]"


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login/" not in page.url, f"{username} could not sign in"


def _assess(referral: Referral, p: float | None, band: str = "") -> None:
    image = LesionImage.objects.get(lesion__referral=referral, image_type=ImageType.DERMOSCOPIC)
    Assessment.objects.create(
        image=image,
        model_version="triage-v2",
        input_sha256="0" * 64,
        probabilities={}
        if p is None
        else {
            "mel": p * 0.7,
            "bcc": p * 0.2,
            "akiec": p * 0.1,
            "nv": (1 - p) * 0.8,
            "bkl": (1 - p) * 0.2,
        },
        malignant_probability=p,
        # As stored before the fix: the calibration bin's interval alone, missing the estimate.
        malignant_interval=[] if p is None else [0.1608, 0.3229],
        band=band,
        abstained=p is None,
        abstention_reason="" if p is not None else "The photo is unlike dermoscopic photos.",
    )
    update_referral_risk(referral.pk)


def _box(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not on the page"
    return dict(box)


def _in_view(page: Any, selector: str, viewport: dict[str, int]) -> dict[str, float]:
    """The element is wholly inside the first screen, with the page not scrolled."""
    assert page.evaluate("() => window.scrollY") == 0
    box = _box(page, selector)
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (selector, box)
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], (selector, box)
    return box


def test_review_screen_at_desktop_and_phone(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    base = live_server.url
    first = make_referral(world, state=State.IN_REVIEW)
    _assess(first, 0.33, "intermediate")
    following = make_referral(world, state=State.AWAITING_REVIEW)
    _assess(following, None)  # the AI declined: the next case, above any low-risk one
    ExplanationTemplate.objects.create(
        service=world.service,
        title="Suspected melanoma: urgent clinic",
        text="The mark on your skin needs a closer look. We will see you in clinic soon.",
    )

    page = new_page(WIDE)
    _sign_in(page, base, "derek")
    page.goto(f"{base}/referrals/{first.pk}/")
    page.wait_for_selector("[data-explanation-templates] + [aria-live]", state="attached")
    _in_view(page, RECORD, WIDE)
    _in_view(page, NEXT, WIDE)
    case, answer = _box(page, ".db-review__case"), _box(page, ".db-review__answer")
    assert answer["x"] >= case["x"] + case["width"] - 1, "the form is not beside the photos"
    assert abs(answer["y"] - case["y"]) < 80
    viewer = _box(page, ".db-review__case .db-viewer__stage")
    assert viewer["y"] < WIDE["height"] and viewer["x"] + viewer["width"] <= answer["x"]
    # The AI panel: the estimate inside its range, plain names, colour with words.
    panel = page.locator(".db-ai").first.text_content() or ""
    assert "Intermediate risk" in panel and "33%" in panel
    low, high = (
        int(x)
        for x in page.evaluate(
            "() => /likely between (\\d+)% and (\\d+)%/.exec(document.querySelector('.db-ai').textContent).slice(1)"
        )
    )
    assert low <= 33 <= high, (low, high)
    assert "Melanoma" in panel and "(cancer or pre-cancer)" in panel and "mel:" not in panel
    assert page.locator(".db-ai .nhsuk-tag--orange").count() >= 1
    # The bar's colour follows risk: <meter> low/high (the model's rule-out and high cut-off)
    # with optimum 0 put 0.33 in the middle (orange) region; the tag says it in words.
    meter = page.eval_on_selector(
        ".db-ai__meter", "m => [m.value, Number(m.low), Number(m.high), Number(m.optimum)]"
    )
    assert meter[3] == 0 and meter[1] <= meter[0] < meter[2], meter
    for width in (1440, 1366, 1024):  # wide desktops down to the side-by-side breakpoint
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the review page scrolls sideways by {overflow} px at {width}"
    page.set_viewport_size(WIDE)
    check_page(page, browser_run, "review-1440-answering", full_page=False)
    check_page(page, browser_run, "review-1440-answering-full")

    # Pick a service explanation, then edit it before sending.
    page.select_option("#id_template", label="Suspected melanoma: urgent clinic")
    page.click("[data-explanation-templates] button")
    assert "closer look" in page.input_value("#id_patient_explanation")
    page.fill(
        "#id_patient_explanation",
        page.input_value("#id_patient_explanation") + " Your GP has been told.",
    )
    # One fieldset per lesion (issue #14): its diagnosis and management; the referral's decision
    # follows from it (chosen here too, as a dermatologist may).
    page.fill("#id_lesion-1-diagnosis_code-filter", "melanoma")
    page.select_option("#id_lesion-1-diagnosis_code", value="372244006")
    page.select_option("#id_lesion-1-management", value="clinic")
    page.select_option("#id_pathway_decision", value="urgent_clinic")
    page.fill("#id_advice_to_referrer", "Suspected melanoma: urgent clinic booked.")
    page.fill("#id_management_plan", "Excision biopsy in clinic.")
    page.evaluate("() => window.scrollTo(0, 0)")
    _in_view(page, RECORD, WIDE)  # filled in (and the template announced), still in view
    with page.expect_navigation():
        page.click(NEXT)  # one click: saved, and the next case claimed and opened
    assert page.url.endswith(f"/referrals/{following.pk}/"), page.url
    first.refresh_from_db()
    following.refresh_from_db()
    assert first.state == State.TRIAGED and first.outcome.patient_explanation.endswith(
        "Your GP has been told."
    )
    assert following.state == State.IN_REVIEW and following.claimed_by == world.derek
    assert f"Next case: {following.reference}" in (page.text_content("main") or "")
    assert "AI declined to assess" in (page.locator(".db-ai").first.text_content() or "")
    _in_view(page, RECORD, WIDE)  # still in view, with the "recorded" message above
    check_page(page, browser_run, "review-1440-next-case", full_page=False)
    check_page(page, browser_run, "review-1440-next-case-full")

    # The worklist says "declined" in words; the GP reads a suspected diagnosis.
    page.goto(f"{base}/worklist/")
    check_page(page, browser_run, "review-1440-worklist")

    phone = new_page(PHONE, phone=True)
    _sign_in(phone, base, "derek")
    phone.goto(f"{base}/referrals/{following.pk}/")
    case, answer = _box(phone, ".db-review__case"), _box(phone, ".db-review__answer")
    assert answer["y"] >= case["y"] + case["height"] - 1, "not stacked on a phone"
    overflow = phone.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the review page scrolls sideways by {overflow} px on a phone"
    check_page(phone, browser_run, "review-390-answering")

    gp = new_page(PHONE, phone=True)
    _sign_in(gp, base, "alice")
    gp.goto(f"{base}/referrals/{first.pk}/")
    assert "Suspected malignant melanoma" in (gp.text_content("main") or "")
    check_page(gp, browser_run, "review-390-gp-reads-suspected")

    admin = new_page(WIDE)
    _sign_in(admin, base, "sam")
    admin.goto(f"{base}/service/explanations/")
    check_page(admin, browser_run, "explanations-1440")
    assert not browser_run.external, browser_run.external
