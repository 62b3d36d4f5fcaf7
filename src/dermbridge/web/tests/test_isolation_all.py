"""Every page address that names a referral, read from the URL conf rather than listed by hand:
another organisation's user gets 404 for GET and POST alike, sees none of the patient's data,
and nothing changes. A page added later is covered without anyone remembering to add it here."""

from __future__ import annotations

from collections.abc import Iterator

from django.test import Client
from django.urls import URLPattern

from dermbridge.accounts.models import Role
from dermbridge.imaging.models import LesionImage
from dermbridge.referrals.models import Message, Referral, State
from dermbridge.testing import World, make_referral, make_user
from dermbridge.web import urls as web_urls
from dermbridge.web.views.referral import BUTTON_ACTIONS, FORM_ACTIONS


def referral_addresses(referral: Referral) -> Iterator[str]:
    """Each web route with a referral in it, filled in; action routes once per action."""
    lesion = referral.lesions.get()
    image = LesionImage.objects.filter(lesion=lesion).first()
    assert image is not None
    values = {
        "pk": referral.pk,
        "lesion_pk": lesion.pk,
        "image_pk": image.pk,
        "number": lesion.number,
    }
    for pattern in web_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if "<int:pk>" not in route:
            continue
        filled = route
        for name, value in values.items():
            filled = filled.replace(f"<int:{name}>", str(value))
        if "<slug:action>" in filled:
            actions = BUTTON_ACTIONS if "/act/" in filled else FORM_ACTIONS
            for action in actions:
                yield "/" + filled.replace("<slug:action>", action)
        else:
            assert "<" not in filled, f"a new kind of route to cover: {route}"
            yield "/" + filled


def test_every_referral_page_is_404_to_every_other_organisation(
    client: Client, world: World
) -> None:
    other_admin = make_user("olive", world.service_b, Role.SERVICE_ADMIN)
    for state in (State.DRAFT, State.IN_REVIEW):
        referral = make_referral(world, state=state)
        addresses = list(referral_addresses(referral))
        assert len(addresses) >= 20
        before = (
            Referral.objects.get(pk=referral.pk).state,
            LesionImage.objects.filter(lesion__referral=referral).count(),
            Message.objects.filter(referral=referral).count(),
        )
        for outsider in (world.bob, world.dora, world.pat, other_admin):
            client.force_login(outsider)
            for url in addresses:
                for method in ("get", "post"):
                    response = getattr(client, method)(url, {"text": "hello", "reason": "x"})
                    # 405 for a GET of a POST-only address: it says nothing about the referral.
                    allowed = {404, 405} if method == "get" else {404}
                    assert response.status_code in allowed, (outsider, method, url)
                    body = response.content.decode()
                    assert referral.patient.family_name not in body, (outsider, url)
                    assert referral.patient.nhs_number not in body, (outsider, url)
        after = (
            Referral.objects.get(pk=referral.pk).state,
            LesionImage.objects.filter(lesion__referral=referral).count(),
            Message.objects.filter(referral=referral).count(),
        )
        assert after == before
