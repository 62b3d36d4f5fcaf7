"""Serving lesion photos: only to people who may see the referral, never cached, audited."""

from __future__ import annotations

import pytest
from django.test import Client

from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.storage import blob_store
from dermbridge.referrals.models import State
from dermbridge.testing import World, make_referral


@pytest.fixture
def image(world: World) -> LesionImage:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    return referral.lesions.get().images.get(image_type="dermoscopic")


@pytest.mark.parametrize("version", ["thumbnail", "viewer", "master", "ers"])
def test_it_serves_each_version_to_the_reviewing_service(
    client: Client, world: World, image: LesionImage, version: str
) -> None:
    client.force_login(world.derek)
    response = client.get(f"/images/{image.media_key}/{version}/")
    assert response.status_code == 200
    expected = blob_store().get(image.derivatives[version]["address"])
    assert response.content == expected
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    event = AuditEvent.objects.filter(action="image.view", object_id=str(image.pk)).last()
    assert event is not None and event.actor_id == world.derek.pk
    assert event.detail == {"version": version}


def test_it_serves_the_referring_practice(client: Client, world: World, image: LesionImage) -> None:
    client.force_login(world.alice)
    assert client.get(f"/images/{image.media_key}/thumbnail/").status_code == 200


def test_it_hides_photos_from_other_organisations(
    client: Client, world: World, image: LesionImage
) -> None:
    for outsider in (world.bob, world.dora, world.pat):
        client.force_login(outsider)
        response = client.get(f"/images/{image.media_key}/viewer/")
        assert response.status_code == 404
        assert b"\xff\xd8" not in response.content  # no JPEG bytes
    assert not AuditEvent.objects.filter(action="image.view").exists()
    denied = AuditEvent.objects.filter(action="access.denied", object_id=image.media_key)
    assert denied.count() == 3


def test_it_sends_anonymous_visitors_to_sign_in(client: Client, image: LesionImage) -> None:
    response = client.get(f"/images/{image.media_key}/viewer/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_refuses_internal_and_unknown_versions(
    client: Client, world: World, image: LesionImage
) -> None:
    client.force_login(world.derek)
    assert client.get(f"/images/{image.media_key}/ai_input/").status_code == 404
    assert client.get(f"/images/{image.media_key}/original/").status_code == 404
    assert client.get("/images/AAAAAAAAAAAAAAAAAAAAAA/viewer/").status_code == 404


def test_a_photo_address_is_unguessable_not_its_database_id(
    client: Client, world: World, image: LesionImage
) -> None:
    """The web address carries a random 128-bit key: the sequential id is no address at all,
    no two photos share a key, and the file name offered says nothing about either."""
    client.force_login(world.derek)
    assert client.get(f"/images/{image.pk}/viewer/").status_code == 404
    keys = set(LesionImage.objects.values_list("media_key", flat=True))
    assert len(keys) == LesionImage.objects.count() >= 3
    assert all(len(k) >= 22 and not k.isdigit() for k in keys)
    response = client.get(f"/images/{image.media_key}/viewer/")
    assert str(image.pk) not in response["Content-Disposition"]
    page = client.get(f"/referrals/{image.lesion.referral_id}/").content.decode()
    assert f"/images/{image.media_key}/viewer/" in page and f"/images/{image.pk}/" not in page
