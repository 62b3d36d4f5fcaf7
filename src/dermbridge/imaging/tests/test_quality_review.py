"""Quality results people can act on (issue #9): a blocking problem is never green, a warning is
amber until the photographer keeps the photo (audited) or retakes it, and the AI's "could not
assess this photo" is its own note, not a quality problem."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.test import Client

from dermbridge.audit.models import AuditEvent
from dermbridge.core.errors import NotPermitted, TransitionNotAllowed
from dermbridge.imaging import quality_review
from dermbridge.imaging.models import ImageType, LesionImage
from dermbridge.imaging.quality_review import Verdict
from dermbridge.referrals.models import State
from dermbridge.referrals.services import submission_problems
from dermbridge.testing import World, make_referral
from dermbridge.triage.inference import COLOUR_REASON, OOD_REASON
from dermbridge.triage.models import Assessment

BLUR = {"ok": False, "score": 0.7, "message": "Blurred: hold the phone still.", "blocking": False}
GLARE = {"ok": False, "score": 0.05, "message": "Glare: tilt the phone.", "blocking": False}
SHARP = {"ok": True, "score": 0.2, "message": "Sharp.", "blocking": False}


def _close_up(referral) -> LesionImage:  # type: ignore[no-untyped-def]
    return LesionImage.objects.get(lesion__referral=referral, image_type=ImageType.CLOSE_UP)


def _set_quality(image: LesionImage, **checks: dict[str, object]) -> LesionImage:
    image.quality = checks
    image.save(update_fields=["quality"])
    return image


def test_a_photo_with_a_warning_is_amber_and_stops_sending_until_kept(world: World) -> None:
    """GIVEN a ready close-up that is blurred and has glare
    THEN it is amber ("Check this photo"), never green, and the referral cannot be sent
    WHEN the photographer keeps it
    THEN it is "Kept with a warning", the keep is recorded and audited, and sending is allowed."""
    referral = make_referral(world)
    assert submission_problems(referral) == []
    image = _set_quality(_close_up(referral), blur=BLUR, glare=GLARE, noise=SHARP)
    review = quality_review.review(image)
    assert review.verdict == Verdict.WARNING and review.colour == "orange"
    assert review.warnings == [BLUR["message"], GLARE["message"]] and review.needs_action
    problems = submission_problems(referral)
    assert problems == [
        "Lesion 1: keep or retake the close-up photo (Blurred: hold the phone still.)"
    ]

    quality_review.keep_photo(image, user=world.alice)
    image.refresh_from_db()
    assert image.quality_acknowledged_by == world.alice and image.quality_acknowledged_at
    review = quality_review.review(image)
    assert review.verdict == Verdict.KEPT and review.colour != "green" and not review.needs_action
    event = AuditEvent.objects.filter(action="image.quality_kept").get()
    assert event.object_id == str(image.pk) and event.actor_id == world.alice.pk
    assert event.detail["warnings"] == [BLUR["message"], GLARE["message"]]
    assert submission_problems(referral) == []
    quality_review.keep_photo(image, user=world.alice)  # twice: one record
    assert AuditEvent.objects.filter(action="image.quality_kept").count() == 1


def test_a_blocking_problem_is_never_green_and_cannot_be_kept(world: World) -> None:
    referral = make_referral(world)
    blocked = {**BLUR, "blocking": True}
    image = _set_quality(_close_up(referral), blur=blocked)
    review = quality_review.review(image)
    assert review.verdict == Verdict.RETAKE and review.colour == "red" and review.needs_action
    with pytest.raises(Exception, match="retake it"):
        quality_review.keep_photo(image, user=world.alice)
    image.refresh_from_db()
    assert image.quality_acknowledged_at is None
    assert any("retake" in p for p in submission_problems(referral))


def test_a_failed_photo_is_red_and_a_clean_one_green(world: World) -> None:
    referral = make_referral(world)
    image = _close_up(referral)
    assert quality_review.review(image).verdict == Verdict.PASSED
    assert quality_review.review(image).colour == "green"
    image.status, image.failure_reason = "failed", "Too dark: turn on more light."
    assert quality_review.review(image).verdict == Verdict.FAILED
    assert quality_review.review(image).tag == "Could not be used"
    assert quality_review.review(image).colour == "red"
    assert quality_review.review(image).blocking == ["Too dark: turn on more light."]


def test_keeping_is_refused_to_other_organisations_and_after_sending(world: World) -> None:
    referral = make_referral(world)
    image = _set_quality(_close_up(referral), blur=BLUR)
    for outsider in (world.bob, world.derek):
        with pytest.raises(NotPermitted):
            quality_review.keep_photo(image, user=outsider)
    sent = make_referral(world, state=State.AWAITING_REVIEW)
    sent_image = _set_quality(_close_up(sent), blur=BLUR)
    with pytest.raises(TransitionNotAllowed):
        quality_review.keep_photo(sent_image, user=world.alice)
    image.refresh_from_db()
    sent_image.refresh_from_db()
    assert image.quality_acknowledged_at is None and sent_image.quality_acknowledged_at is None
    assert not AuditEvent.objects.filter(action="image.quality_kept").exists()


@pytest.mark.parametrize(
    ("reason", "note"),
    [
        (OOD_REASON, quality_review.AI_NOT_DERMOSCOPIC_NOTE),
        (COLOUR_REASON, quality_review.AI_NOT_DERMOSCOPIC_NOTE),
        ("Too blurred for the model.", quality_review.AI_OTHER_NOTE),
    ],
)
def test_the_ai_declining_a_photo_is_its_own_note_not_a_quality_problem(
    world: World, reason: str, note: str
) -> None:
    """GIVEN the AI declined a dermoscopic photo
    THEN the photo is still green (its quality passed), the AI's note says so separately,
    and nothing stops the referral being sent."""
    referral = make_referral(world)
    image = LesionImage.objects.get(lesion__referral=referral, image_type=ImageType.DERMOSCOPIC)
    Assessment.objects.create(
        image=image, model_version="t", input_sha256="0" * 64, abstained=True,
        abstention_reason=reason,
    )  # fmt: skip
    review = quality_review.review(image)
    assert review.verdict == Verdict.PASSED and review.warnings == [] and review.ai_note == note
    assert "does not stop the referral" in note
    assert submission_problems(referral) == []


def test_the_photo_page_shows_amber_and_keeps_a_photo(world: World) -> None:
    referral = make_referral(world)
    image = _set_quality(_close_up(referral), blur=BLUR)
    lesion = image.lesion
    client = Client()
    client.force_login(world.alice)
    url = f"/referrals/{referral.pk}/lesions/{lesion.pk}/photos/"
    page = client.get(url).content.decode()
    assert "nhsuk-tag--orange" in page and "Check this photo" in page
    assert "<strong>Keep or retake:</strong> a close-up photo" in page
    assert "Photo set complete" not in page and "Keep this photo" in page

    # Another organisation cannot keep it (404, nothing changed).
    outsider = Client()
    outsider.force_login(world.bob)
    assert outsider.post(f"/referrals/{referral.pk}/photos/{image.pk}/keep/").status_code == 404
    image.refresh_from_db()
    assert image.quality_acknowledged_at is None

    response = client.post(f"/referrals/{referral.pk}/photos/{image.pk}/keep/")
    assert response.status_code == 302 and response["Location"] == url
    page = client.get(url).content.decode()
    assert "Kept with a warning" in page and "Photo set complete" in page
    assert "Keep this photo" not in page


def test_migration_0004_takes_the_ai_abstention_out_of_quality(world: World) -> None:
    referral = make_referral(world)
    image = _set_quality(
        _close_up(referral),
        blur=SHARP,
        dermoscopic_label={
            "ok": False,
            "score": 0.0,
            "message": "Does not look…",
            "blocking": False,
        },
    )
    migration = importlib.import_module("dermbridge.imaging.migrations.0004_quality_acknowledged")
    migration.drop_ai_abstention_from_quality(django_apps, None)
    image.refresh_from_db()
    assert image.quality == {"blur": SHARP}


def test_a_capture_app_keeps_a_photo_over_the_api(world: World) -> None:
    """GIVEN a draft whose close-up has a warning
    THEN the API shows it (not yet kept) and submitting is refused naming it
    WHEN the app keeps the photo THEN the image says when, and the referral can be sent."""
    from dermbridge.referrals.tests.api_support import api_client

    referral = make_referral(world)
    image = _set_quality(_close_up(referral), blur=BLUR)
    gp = api_client(world.alice)
    shown = gp.get(f"/api/images/{image.pk}/").json()
    assert shown["quality_kept_at"] is None and shown["ai_note"] == ""
    assert shown["quality_warnings"] == [BLUR["message"]]
    refused = gp.post(f"/api/referrals/{referral.reference}/submit/", {}, format="json")
    assert refused.status_code == 400 and "keep or retake" in refused.content.decode()

    assert api_client(world.bob).post(f"/api/images/{image.pk}/keep/").status_code == 404
    kept = gp.post(f"/api/images/{image.pk}/keep/")
    assert kept.status_code == 200 and kept.json()["quality_kept_at"]
    sent = gp.post(f"/api/referrals/{referral.reference}/submit/", {}, format="json")
    assert sent.status_code == 200, sent.content
