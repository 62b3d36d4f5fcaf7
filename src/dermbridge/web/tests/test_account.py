"""Signing in, landing by role, lock-out and two-factor."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from dermbridge.audit.models import AuditEvent
from dermbridge.testing import World

PASSWORD = "correct-horse-battery"


def test_it_shows_the_sign_in_form_at_the_root(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Sign in to DermBridge" in body
    assert 'name="username"' in body and 'name="password"' in body
    # NHS.UK design system served locally, and no inline script or style (strict CSP).
    assert "/static/nhsuk/nhsuk-frontend.min.css" in body
    assert "<script>" not in body and "style=" not in body


@pytest.mark.parametrize(
    ("persona", "target"),
    [
        ("alice", "/referrals/"),
        ("pat", "/referrals/"),
        ("derek", "/worklist/"),
        ("sam", "/worklist/"),
    ],
)
def test_it_sends_each_role_to_its_main_page(
    client: Client, world: World, persona: str, target: str
) -> None:
    client.force_login(getattr(world, persona))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == target


def test_it_signs_in_with_the_right_password_and_out_with_a_post(
    client: Client, world: World
) -> None:
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/referrals/").status_code == 200
    assert client.get("/logout/").status_code == 405  # sign-out is POST only
    client.post("/logout/")
    assert client.get("/referrals/").status_code == 302


def test_it_shows_a_specific_error_for_a_wrong_password(client: Client, world: World) -> None:
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "There is a problem" in body
    assert "correct username and password" in body


def test_it_locks_the_account_after_five_failed_sign_ins(client: Client, world: World) -> None:
    """GIVEN five wrong passwords for alice WHEN the right password is then given
    THEN sign-in is still refused (django-axes lock-out) and alice is not signed in."""
    for _ in range(5):
        client.post("/login/", {"username": "alice", "password": "guess"})
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Your account is locked for now" in response.content.decode()
    assert client.get("/referrals/").status_code == 302  # still signed out


# django-otp throttles a device for a second after a wrong code; switched off here so the
# test can follow a wrong code straight away with the right one.
@override_settings(REQUIRE_TWO_FACTOR=True, OTP_TOTP_THROTTLE_FACTOR=0)
def test_it_keeps_a_dermatologist_out_until_a_correct_totp_code(
    client: Client, world: World
) -> None:
    """GIVEN two-factor is required WHEN derek signs in with only a password
    THEN the worklist redirects to two-factor set-up; a wrong code is refused; after a
    correct TOTP code the worklist opens."""
    client.force_login(world.derek)
    response = client.get("/worklist/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/two-factor/")

    setup = client.get("/account/two-factor/")
    body = setup.content.decode()
    assert setup.status_code == 200
    assert "<svg" in body and "otpauth://totp/" in body
    device = TOTPDevice.objects.get(user=world.derek, confirmed=False)

    wrong = client.post("/account/two-factor/", {"token": "000000"})
    assert "that code is not right" in wrong.content.decode().lower()  # named: "Code: that ..."
    assert client.get("/worklist/").status_code == 302
    assert AuditEvent.objects.filter(action="two_factor.failed").exists()

    code = f"{totp(device.bin_key, step=device.step, digits=device.digits):06d}"
    response = client.post("/account/two-factor/", {"token": code, "next": "/worklist/"})
    assert response.status_code == 302
    assert response["Location"] == "/worklist/"
    assert client.get("/worklist/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed


@override_settings(REQUIRE_TWO_FACTOR=True)
def test_it_asks_for_a_code_only_once_a_device_is_set_up(client: Client, world: World) -> None:
    device = TOTPDevice.objects.create(user=world.alice, name="phone", confirmed=True)
    client.force_login(world.alice)
    response = client.get("/account/two-factor/")
    body = response.content.decode()
    assert "Enter your security code" in body
    assert "<svg" not in body  # no new secret shown once set up
    code = f"{totp(device.bin_key, step=device.step, digits=device.digits):06d}"
    client.post("/account/two-factor/", {"token": code})
    assert client.get("/referrals/").status_code == 200
