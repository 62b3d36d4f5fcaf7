"""Ten clients send the same Idempotency-Key and payload at once: one referral is made.

Real concurrency needs a database that lets several connections write at once: PostgreSQL
(`DERMBRIDGE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/dermbridge .venv/bin/pytest ...`).
The suite's default SQLite test database is in memory and shared by threads through one
connection, so the threads would take turns and prove nothing; there the test is skipped and the
in-flight rule is tested directly (test_idempotency.py::test_a_request_still_in_flight_...).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from dermbridge.core.models import IdempotencyKey, KeyState
from dermbridge.referrals.models import Referral
from dermbridge.referrals.tests.api_support import api_client, new_referral_body
from dermbridge.testing import World

CLIENTS = 10

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
]


def send_all_at_once(world: World, key: str, body: dict[str, Any]) -> list[Any]:
    barrier = threading.Barrier(CLIENTS)
    answers: list[Any] = [None] * CLIENTS

    def one(index: int) -> None:
        try:
            client = api_client(world.alice)
            barrier.wait(timeout=30)
            answers[index] = client.post(
                "/api/referrals/", body, format="json", HTTP_IDEMPOTENCY_KEY=key
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_ten_clients_with_the_same_key_make_one_referral(world: World) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: the in-memory SQLite test database serialises the threads "
            "(set DERMBRIDGE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/dermbridge)"
        )
    body = new_referral_body(world)
    answers = send_all_at_once(world, "same-key-for-ten", body)
    codes = sorted(a.status_code for a in answers)
    replayed = sum("Idempotent-Replayed" in a for a in answers)
    print(f"status codes of {CLIENTS} clients: {codes} ({replayed} replays)")
    assert set(codes) <= {201, 409}, codes
    created = [a for a in answers if a.status_code == 201 and "Idempotent-Replayed" not in a]
    assert len(created) == 1, codes
    replays = [a for a in answers if a.status_code == 201 and "Idempotent-Replayed" in a]
    assert all(r.content == created[0].content for r in replays)
    for conflict in (a for a in answers if a.status_code == 409):
        assert "Idempotency-Key" in conflict.json()["errors"]
    assert Referral.objects.count() == 1
    assert IdempotencyKey.objects.get().state == KeyState.DONE
    # The client that got 409 retries after Retry-After and gets the one answer.
    retry = api_client(world.alice).post(
        "/api/referrals/", body, format="json", HTTP_IDEMPOTENCY_KEY="same-key-for-ten"
    )
    assert retry.status_code == 201 and retry.content == created[0].content
    assert Referral.objects.count() == 1
