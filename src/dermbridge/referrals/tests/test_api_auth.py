"""Signing in to the REST API: tokens, lock-out, two-factor, session cookies, the command."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dermbridge.audit.models import AuditEvent
from dermbridge.referrals.tests.api_support import api_client


def test_it_issues_a_token_for_a_username_and_password(world):
    response = api_client(None).post(
        "/api/auth/token/",
        {"username": "alice", "password": "correct-horse-battery"},
        format="json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=world.alice).key == token
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/referrals/").status_code == 200


def test_it_locks_the_account_after_repeated_wrong_passwords(world, settings):
    client = api_client(None)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(
            "/api/auth/token/", {"username": "bob", "password": "guess"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["detail"] == "Wrong username or password."
    response = client.post(
        "/api/auth/token/", {"username": "bob", "password": "guess"}, format="json"
    )
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    response = client.post(
        "/api/auth/token/", {"username": "bob", "password": "correct-horse-battery"}, format="json"
    )
    assert response.status_code == 429  # even the right password, while locked
    assert not Token.objects.filter(user=world.bob).exists()


def test_it_asks_clinicians_for_their_second_factor_before_issuing_a_token(world, settings):
    settings.REQUIRE_TWO_FACTOR = True
    response = api_client(None).post(
        "/api/auth/token/",
        {"username": "alice", "password": "correct-horse-battery"},
        format="json",
    )
    assert response.status_code == 403
    assert "two-factor" in response.json()["detail"]
    assert not Token.objects.filter(user=world.alice).exists()


def test_the_issue_token_command_prints_a_token_and_can_rotate_it(world):
    out = StringIO()
    call_command("issue-token", "pat", stdout=out)
    first = out.getvalue().strip()
    assert Token.objects.get(user=world.pat).key == first
    out = StringIO()
    call_command("issue-token", "pat", "--rotate", stdout=out)
    assert out.getvalue().strip() not in ("", first)
    assert AuditEvent.objects.filter(action="api.token_issued").count() == 2


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def test_it_issues_a_token_to_a_clinician_who_gives_a_valid_second_factor(world, settings):
    settings.REQUIRE_TWO_FACTOR = True
    device = TOTPDevice.objects.create(user=world.derek, name="phone", confirmed=True)
    client = api_client(None)
    # One code, computed once: recomputing it for the replay could cross a
    # 30-second step boundary and yield a fresh, legitimately valid code.
    code = current_code(device)
    response = client.post(
        "/api/auth/token/",
        {
            "username": "derek",
            "password": "correct-horse-battery",
            "otp_token": code,
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=world.derek).key
    # The same code replayed is refused.
    again = client.post(
        "/api/auth/token/",
        {
            "username": "derek",
            "password": "correct-horse-battery",
            "otp_token": code,
        },
        format="json",
    )
    assert again.status_code == 403
    assert again.json()["detail"].startswith("Enter the current code")
    # And so is a wrong one.
    wrong = f"{(int(code) + 1) % 10**device.digits:0{device.digits}d}"
    third = client.post(
        "/api/auth/token/",
        {"username": "derek", "password": "correct-horse-battery", "otp_token": wrong},
        format="json",
    )
    assert third.status_code == 403


def test_a_signed_in_browser_session_can_use_the_api(world):
    client = APIClient()
    client.force_login(world.alice)
    assert client.get("/api/referrals/").status_code == 200
    client.logout()
    assert client.get("/api/referrals/").status_code in (401, 403)


def test_an_unverified_clinician_session_cannot_use_the_api(world, settings):
    """GIVEN two-factor is required and alice signed in with her password only
    WHEN her browser calls the API, with or without a made-up Authorization header
    THEN she is refused and sees no referral."""
    settings.REQUIRE_TWO_FACTOR = True
    client = APIClient()
    client.force_login(world.alice)
    assert client.get("/api/referrals/").status_code == 403  # the middleware
    response = client.get("/api/referrals/", HTTP_AUTHORIZATION="Basic Zm9vOmJhcg==")
    assert response.status_code == 401
    assert response.json()["detail"] == "Two-factor verification required."


def _token_for_alice(client: APIClient) -> str:
    response = client.post(
        "/api/auth/token/",
        {"username": "alice", "password": "correct-horse-battery"},
        format="json",
    )
    return str(response.json()["token"])


def test_an_expired_token_is_refused_and_replaced_at_the_next_sign_in(world, settings):
    """GIVEN alice's API token is older than DERMBRIDGE_API_TOKEN_DAYS
    WHEN a system calls the API with it THEN it gets 401 and no data;
    WHEN alice signs in for a token again THEN she gets a new key that works."""
    settings.API_TOKEN_DAYS = 30
    client = api_client(None)
    first = _token_for_alice(client)
    Token.objects.filter(key=first).update(created=timezone.now() - timedelta(days=31))
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    refused = client.get("/api/referrals/")
    assert refused.status_code == 401
    assert refused.json()["detail"].startswith("API token expired")
    assert "results" not in refused.json()

    client.credentials()
    second = _token_for_alice(client)
    assert second != first
    assert not Token.objects.filter(key=first).exists()
    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert client.get("/api/referrals/").status_code == 200
    issued = AuditEvent.objects.filter(action="api.token_issued").order_by("seq").last()
    assert issued is not None and issued.detail["replaced_expired"] is True


def test_a_token_within_its_lifetime_keeps_working(world, settings):
    settings.API_TOKEN_DAYS = 30
    client = api_client(None)
    key = _token_for_alice(client)
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(days=29))
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/referrals/").status_code == 200
    # Signing in again inside the lifetime returns the same key.
    client.credentials()
    again = _token_for_alice(client)
    assert again == key
