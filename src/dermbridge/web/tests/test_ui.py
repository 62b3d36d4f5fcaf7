"""Page details of the web experience: who is offered what, and the enhancements' hooks."""

from __future__ import annotations

from django.test import Client

from dermbridge.testing import World


def test_it_offers_new_referral_only_to_those_who_can_start_one(
    client: Client, world: World
) -> None:
    """GIVEN pat, a photographer at the imaging hub, and alice, a referrer at a practice
    WHEN each opens their referrals page THEN only alice is offered 'New referral', and pat is
    refused the new-referral page (a draft started at a hub could never be sent)."""
    client.force_login(world.pat)
    page = client.get("/referrals/").content.decode()
    assert "My referrals" in page
    assert 'href="/referrals/new/"' not in page
    assert client.get("/referrals/new/").status_code == 404

    client.force_login(world.alice)
    assert 'href="/referrals/new/"' in client.get("/referrals/").content.decode()
    assert client.get("/referrals/new/").status_code == 200


def test_it_marks_the_body_site_select_and_phone_camera_for_enhancement(
    client: Client, world: World
) -> None:
    """GIVEN alice WHEN she opens a new referral THEN the body site select carries the body
    map hook; the photo input asks a phone for its rear camera and any image type."""
    client.force_login(world.alice)
    page = client.get("/referrals/new/").content.decode()
    assert 'data-bodymap="true"' in page
    from dermbridge.testing import make_referral

    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    photos = client.get(f"/referrals/{referral.pk}/lesions/{lesion.pk}/photos/").content.decode()
    assert 'capture="environment"' in photos
    assert 'accept="image/*"' in photos
    assert "data-upload" in photos
    assert 'data-image-set-complete="false"' in photos


def test_it_shows_the_reviewer_earlier_photos_of_the_same_lesion_and_audits_it(
    client: Client, world: World
) -> None:
    """GIVEN a patient referred twice for the same left back lesion WHEN derek opens the
    latest referral THEN the earlier referral's photos are offered for side-by-side comparison,
    the answer is the primary action, and the read of the earlier referral is audited; alice
    (the referrer) gets no comparison, and dora (another service) gets 404."""
    from dermbridge.audit.models import AuditEvent
    from dermbridge.referrals.models import State
    from dermbridge.testing import make_patient, make_referral

    patient = make_patient(world.practice_a, world.alice)
    first = make_referral(world, state=State.AWAITING_REVIEW, patient=patient)
    latest = make_referral(world, state=State.IN_REVIEW, patient=patient)
    client.force_login(world.derek)
    page = client.get(f"/referrals/{latest.pk}/").content.decode()
    # Not linked by a clinician yet: offered as a same-site guess, not called this lesion.
    assert "Earlier photos that may be this lesion" in page and "Not linked yet" in page
    assert "Earlier photos of this lesion" not in page
    assert f"referral {first.reference}" in page
    assert "data-compare-src" in page and "data-viewer" in page
    # The answer is the page's primary action: the form beside the photos (issue #9); returning
    # the case to the worklist is secondary.
    assert f'action="/referrals/{latest.pk}/outcome/"' in page
    assert 'nhsuk-button--secondary" type="submit">Return to worklist' in page
    event = AuditEvent.objects.filter(action="referral.compare_view").get()
    assert event.detail["earlier_referrals"] == [first.pk]
    # Once the dermatologist links the two, they are this lesion's photos, with its history.
    from dermbridge.lesions import services as lesions
    from dermbridge.lesions.models import PatientLesion

    # (The patient's first photographed lesion became a patient lesion by itself.)
    earlier_lesion = PatientLesion.objects.get(encounters__lesion__referral=first)
    lesions.link(latest.lesions.get(), earlier_lesion, user=world.derek)
    page = client.get(f"/referrals/{latest.pk}/").content.decode()
    assert "Earlier photos of this lesion" in page and f"referral {first.reference}" in page
    assert f'href="/lesions/{earlier_lesion.pk}/compare/"' in page

    client.force_login(world.alice)
    assert (
        "Earlier photos of this lesion"
        not in client.get(f"/referrals/{latest.pk}/").content.decode()
    )
    client.force_login(world.dora)
    assert client.get(f"/referrals/{latest.pk}/").status_code == 404


def test_it_marks_the_worklist_and_diagnosis_list_for_keyboard_enhancement(
    client: Client, world: World
) -> None:
    """GIVEN a case in review by derek WHEN he opens the worklist and the outcome form
    THEN the table carries the keyboard-navigation hook and the diagnosis select the filter."""
    from dermbridge.referrals.models import State
    from dermbridge.testing import make_referral

    referral = make_referral(world, state=State.IN_REVIEW)
    client.force_login(world.derek)
    assert "data-keyboard-rows" in client.get("/worklist/").content.decode()
    outcome = client.get(f"/referrals/{referral.pk}/", follow=True).content.decode()
    assert 'data-filterable="true"' in outcome  # the outcome form is on the review page


def test_it_serves_the_viewer_library_and_lets_only_the_nhs_font_in(
    client: Client, db: None
) -> None:
    """Panzoom comes from this server (npm). The NHS.UK font is the one thing loaded from
    elsewhere (issue #9: the CSP used to block it, logging errors on every page): the policy
    names NHS England's asset server for fonts only, and no other origin for anything; the
    referrer policy keeps page addresses from being sent with it."""
    script = client.get("/static/panzoom/panzoom.es.js")
    assert script.status_code == 200
    assert b"Panzoom" in b"".join(script.streaming_content)  # type: ignore[attr-defined]
    policy = client.get("/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if " " in d.strip())
    assert directives["font-src"].split() == ["'self'", "https://assets.nhs.uk"]
    others = [v for k, v in directives.items() if k != "font-src" and "http" in v]
    assert others == [], others
    assert client.get("/login/")["Referrer-Policy"] in ("same-origin", "no-referrer")
    for module in ("bodymap", "upload", "poll", "rows", "viewer", "filter-select"):
        assert client.get(f"/static/web/{module}.js").status_code == 200
