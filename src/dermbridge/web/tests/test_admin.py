"""The Django admin pages for organisations, people, patients and (read-only) referrals."""

from __future__ import annotations

from django.test import Client

from dermbridge.accounts.models import User
from dermbridge.referrals.models import State
from dermbridge.testing import World, make_referral


def test_it_lists_and_opens_each_registered_model(client: Client, world: World) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    admin = User.objects.create_superuser("root", "root@example.nhs.uk", "a-long-admin-pass")
    client.force_login(admin)
    for model in (
        "accounts/organisation",
        "accounts/user",
        "accounts/membership",
        "patients/patient",
        "referrals/referral",
    ):
        assert client.get(f"/admin/{model}/").status_code == 200, model
    assert client.get(f"/admin/accounts/user/{world.derek.pk}/change/").status_code == 200
    page = client.get(f"/admin/referrals/referral/{referral.pk}/change/")
    assert page.status_code == 200
    # Read-mostly: no adding or deleting referrals outside the workflow services.
    assert client.get("/admin/referrals/referral/add/").status_code == 403
    assert client.get(f"/admin/referrals/referral/{referral.pk}/delete/").status_code == 403


def test_it_keeps_clinical_users_out_of_the_admin(client: Client, world: World) -> None:
    client.force_login(world.derek)
    response = client.get("/admin/referrals/referral/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
