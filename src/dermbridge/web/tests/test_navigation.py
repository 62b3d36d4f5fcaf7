"""The menu offers each person what their role at their kind of organisation is for."""

from __future__ import annotations

import pytest
from django.test import Client

from dermbridge.accounts.models import Role
from dermbridge.testing import World, make_user

pytestmark = pytest.mark.django_db


def menu(client: Client, user) -> set[str]:  # type: ignore[no-untyped-def]
    client.force_login(user)
    page = client.get("/", follow=True).content.decode()
    links = {"My referrals", "New referral", "Clinics", "Worklist", "Dashboard", "Letters to post"}
    nav = page[page.index("nhsuk-header__navigation-list") :]
    nav = nav[: nav.index("</ul>")]
    return {link for link in links if f">{link}</a>" in nav}


def test_each_role_sees_its_own_menu(client: Client, world: World) -> None:
    """GIVEN a GP, a hub photographer, a hub administrator, a dermatologist and a service
    administrator THEN each menu holds their work only: the hub's administrator runs clinics and
    sees no dermatology worklist, dashboard or letters (the same role at a dermatology service
    does)."""
    hub_admin = make_user("hana", world.hub, Role.SERVICE_ADMIN)
    assert menu(client, world.alice) == {"My referrals", "New referral"}
    assert menu(client, hub_admin) == {"Clinics"}
    assert menu(client, world.derek) == {"Worklist", "Dashboard"}
    assert menu(client, world.sam) == {"Worklist", "Dashboard", "Letters to post"}
    assert "Clinics" in menu(client, world.pat) and "Worklist" not in menu(client, world.pat)
