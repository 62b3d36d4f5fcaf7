"""Helpers for the REST API tests: a token-authenticated client per persona, request bodies."""

from __future__ import annotations

from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dermbridge.accounts.models import User
from dermbridge.testing import DEFAULT_HISTORY, DEFAULT_LESION, World

# Fails the Modulus 11 check (9434765919 is valid; this one differs in the last digit).
BAD_NHS_NUMBER = "9434765918"


def api_client(user: User | None) -> APIClient:
    """A client sending `user`'s API token, or an anonymous one."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def new_referral_body(world: World, **overrides: Any) -> dict[str, Any]:
    """A complete draft referral for a new patient, as a capture app would send it."""
    body: dict[str, Any] = {
        "patient_details": {
            "nhs_number": "943 476 5919",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "date_of_birth": "1961-12-10",
            "sex": "female",
            "email": "ada@example.org",
            "contact_preference": "email",
        },
        "kind": "ras",
        "service": world.service.ods_code,
        "referring_org": world.practice_a.ods_code,
        "clinical_question": "Changing pigmented lesion on the back: melanoma?",
        "history": dict(DEFAULT_HISTORY),
        "lesions": [dict(DEFAULT_LESION)],
    }
    body.update(overrides)
    return body
