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
