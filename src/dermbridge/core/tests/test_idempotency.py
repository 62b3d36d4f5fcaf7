"""Idempotency-Key on the REST API and FHIR: one rule per test (IETF httpapi draft)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.test.client import encode_multipart
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.core import idempotency
from dermbridge.core.models import IdempotencyKey, KeyState
from dermbridge.core.scheduler import PERIODIC_TASKS
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.interop.services import fhir_bundle
from dermbridge.referrals.models import Message, Referral
from dermbridge.referrals.tests.api_support import api_client, new_referral_body
from dermbridge.testing import World, make_referral

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def create(client: Any, body: dict[str, Any], key: str | None = KEY) -> Any:
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post("/api/referrals/", body, format="json", **extra)


def test_the_same_key_and_payload_replays_the_first_answer_and_creates_one_referral(
    world: World,
) -> None:
    """A client that retries POST /api/referrals/ after a read time-out (it never saw the first
    answer) with the same key gets that answer again, and there is one referral."""
    client = api_client(world.alice)
    body = new_referral_body(world)
    first = create(client, body)
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    retry = create(client, body)
    assert retry.status_code == 201
    assert retry.content == first.content
    assert retry["Content-Type"] == first["Content-Type"]
    assert retry["Idempotent-Replayed"] == "true"
    assert Referral.objects.count() == 1
    row = IdempotencyKey.objects.get()
    assert (row.user, row.key, row.state) == (world.alice, KEY, KeyState.DONE)
    # The replay showed patient data again: audited like any read.
    assert AuditEvent.objects.filter(
        action="request.replayed", actor_id=world.alice.pk, object_id=str(row.pk)
    ).exists()
    # Without a key, a retry is a new request (the header is the client's choice).
    assert create(client, body, key=None).status_code == 201
    assert Referral.objects.count() == 2


def test_the_same_key_with_another_payload_is_422_and_changes_nothing(world: World) -> None:
    client = api_client(world.alice)
    assert create(client, new_referral_body(world)).status_code == 201
    other = create(client, new_referral_body(world, clinical_question="Another question?"))
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert list(other.json()["errors"]) == ["Idempotency-Key"]
    # ... and on another endpoint too (keys are unique per user).
    referral = Referral.objects.get()
    patch = client.patch(
        f"/api/referrals/{referral.reference}/",
        {"clinical_question": "Changed?"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    assert patch.status_code == 422
    assert Referral.objects.count() == 1
    assert Referral.objects.get().clinical_question != "Changed?"


def test_a_claim_whose_request_died_is_taken_over_at_once(world: World) -> None:
    """GIVEN a claim left in flight by a process killed mid-request (its work rolled back with
    it: the view and the stored answer are one transaction) and nobody holding its row lock
    WHEN the client retries with the same key THEN the request runs at once — no 409, no waiting
    for a time-out — and there is still only one referral."""
    body = new_referral_body(world)
    client = api_client(world.alice)
    first = create(client, body)  # learn the fingerprint the dead request had
    row = IdempotencyKey.objects.get()
    Referral.objects.all().delete()  # the dead request's work never committed
    IdempotencyKey.objects.filter(pk=row.pk).update(
        state=KeyState.IN_FLIGHT, status_code=None, response_body=b""
    )
    again = create(client, body)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert again.content != first.content
    assert Referral.objects.count() == 1
    assert IdempotencyKey.objects.get().state == KeyState.DONE


@pytest.mark.django_db(transaction=True)
def test_a_request_still_in_flight_gets_409_in_the_api_error_format() -> None:
    """GIVEN a request that has claimed the key and is running its view (it holds the claim's
    row lock) THEN the same key gets 409 with Retry-After, in the API's error format.
    PostgreSQL: the running request is another connection holding the lock."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs a second connection holding a row lock (make test-pg)")
    import threading

    from dermbridge.testing import make_world

    world = make_world()
    body = new_referral_body(world)
    client = api_client(world.alice)
    create(client, body)
    row = IdempotencyKey.objects.get()
    IdempotencyKey.objects.filter(pk=row.pk).update(state=KeyState.IN_FLIGHT)
    locked, release = threading.Event(), threading.Event()

    def running_request() -> None:
        from django.db import connections, transaction

        try:
            with transaction.atomic():
                IdempotencyKey.objects.select_for_update().get(pk=row.pk)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=running_request)
    holder.start()
    try:
        assert locked.wait(30)
        response = create(client, body)
    finally:
        release.set()
        holder.join(30)
    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "1"
    assert response.json()["errors"] == {"Idempotency-Key": [response.json()["detail"]]}
    assert Referral.objects.count() == 1


def test_keys_are_scoped_per_user(world: World) -> None:
    alice = create(api_client(world.alice), new_referral_body(world))
    bob_body = new_referral_body(world, referring_org=world.practice_b.ods_code)
    bob = create(api_client(world.bob), bob_body)
    assert alice.status_code == bob.status_code == 201
    assert alice.json()["reference"] != bob.json()["reference"]
    assert IdempotencyKey.objects.filter(key=KEY).count() == 2


@pytest.mark.parametrize(
    "raw",
    ["", '""', "   ", "x" * 256, '"' + "x" * 256 + '"', "caf\u00e9", "tab\there", '"a"b"'],
)
def test_a_malformed_key_is_400_naming_the_header_and_changes_nothing(
    world: World, raw: str
) -> None:
    response = create(api_client(world.alice), new_referral_body(world), key=raw)
    assert response.status_code == 400, raw
    assert "Idempotency-Key" in response.json()["detail"]
    assert "Idempotency-Key" in response.json()["errors"]
    assert Referral.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0


def test_a_quoted_key_is_the_same_key_as_a_bare_one(world: World) -> None:
    """The draft sends an sf-string ("..."); many clients send the bare value."""
    client = api_client(world.alice)
    body = new_referral_body(world)
    assert create(client, body, key=f'"{KEY}"').status_code == 201
    assert create(client, body, key=KEY)["Idempotent-Replayed"] == "true"
    assert idempotency.parse_key('"a\\"b"') == 'a"b'
    assert idempotency.parse_key("x" * 255) == "x" * 255


def test_4xx_answers_are_kept_but_409_is_not(world: World) -> None:
    client = api_client(world.alice)
    bad = create(client, new_referral_body(world, kind="nonsense"), key="bad-1")
    assert bad.status_code == 400
    assert create(client, new_referral_body(world, kind="nonsense"), key="bad-1").content == (
        bad.content
    )
    assert IdempotencyKey.objects.get(key="bad-1").status_code == 400
    # 409 (not possible in this state): the key is released, the state may change.
    sent = make_referral(world, state="awaiting_review")
    conflict = client.post(
        f"/api/referrals/{sent.reference}/submit/", {}, format="json", HTTP_IDEMPOTENCY_KEY="s-1"
    )
    assert conflict.status_code == 409, conflict.content
    assert not IdempotencyKey.objects.filter(key="s-1").exists()


def flaky_view(request: Any) -> Any:
    from django.http import JsonResponse

    flaky_view.calls += 1  # type: ignore[attr-defined]
    if flaky_view.calls == 1:  # type: ignore[attr-defined]
        raise RuntimeError("the first attempt fails on the server")
    Message.objects.count()
    return JsonResponse({"attempt": flaky_view.calls}, status=201)  # type: ignore[attr-defined]


urlpatterns = [
    __import__("django.urls", fromlist=["path"]).path("api/flaky/", flaky_view),
]


@override_settings(ROOT_URLCONF=__name__)
def test_a_5xx_releases_the_key_so_the_client_may_retry(world: World) -> None:
    flaky_view.calls = 0  # type: ignore[attr-defined]
    client = Client(raise_request_exception=False)
    client.force_login(world.alice)
    first = client.post("/api/flaky/", {}, HTTP_IDEMPOTENCY_KEY="k5")
    assert first.status_code == 500
    assert not IdempotencyKey.objects.filter(key="k5").exists()
    second = client.post("/api/flaky/", {}, HTTP_IDEMPOTENCY_KEY="k5")
    assert second.status_code == 201 and second.json() == {"attempt": 2}
    third = client.post("/api/flaky/", {}, HTTP_IDEMPOTENCY_KEY="k5")
    assert third.json() == {"attempt": 2} and flaky_view.calls == 2  # type: ignore[attr-defined]


def test_the_same_photo_uploaded_twice_with_the_same_key_is_stored_once(world: World) -> None:
    """Even when the retrying client encodes the multipart body again (a new boundary)."""
    referral = make_referral(world, images=False)
    client = api_client(world.alice)
    path = f"/api/referrals/{referral.reference}/lesions/1/images/"
    data = lesion_photo(96, 72, seed=3, kind="close_up")
    answers = []
    for boundary in ("first-boundary-123", "second-boundary-456", "first-boundary-123"):
        photo = SimpleUploadedFile("p.jpg", data, content_type="image/jpeg")
        body = encode_multipart(boundary, {"file": photo, "image_type": "close_up"})
        answers.append(
            client.generic(
                "POST",
                path,
                body,  # type: ignore[arg-type]
                content_type=f"multipart/form-data; boundary={boundary}",
                HTTP_IDEMPOTENCY_KEY="photo-1",
            )
        )
    assert [a.status_code for a in answers] == [202, 202, 202], answers[0].content
    assert answers[0].json() == answers[1].json() == answers[2].json()
    assert LesionImage.objects.filter(lesion__referral=referral).count() == 1
    # Another photo under the same key is another request: 422, not stored.
    other = SimpleUploadedFile("q.jpg", lesion_photo(96, 72, seed=4), content_type="image/jpeg")
    response = client.post(
        path, {"file": other, "image_type": "close_up"}, HTTP_IDEMPOTENCY_KEY="photo-1"
    )
    assert response.status_code == 422
    assert LesionImage.objects.filter(lesion__referral=referral).count() == 1


def test_a_fhir_transaction_with_the_same_key_creates_one_referral(world: World) -> None:
    source = make_referral(world)
    bundle = fhir_bundle(source, user=world.alice)
    client = api_client(world.alice)
    first = client.post("/fhir", bundle, format="json", HTTP_IDEMPOTENCY_KEY="tx-1")
    assert first.status_code == 200, first.content
    retry = client.post("/fhir", bundle, format="json", HTTP_IDEMPOTENCY_KEY="tx-1")
    assert retry.content == first.content
    assert retry["Content-Type"].startswith("application/fhir+json")
    assert Referral.objects.count() == 2  # the source and one copy
    bad = client.post("/fhir", bundle, format="json", HTTP_IDEMPOTENCY_KEY="")
    assert bad.status_code == 400
    assert bad.json()["resourceType"] == "OperationOutcome"
    assert "Idempotency-Key" in bad.json()["issue"][0]["diagnostics"]


def test_workflow_actions_and_messages_honour_the_key(world: World) -> None:
    draft = make_referral(world)
    client = api_client(world.alice)
    submit = [
        client.post(
            f"/api/referrals/{draft.reference}/submit/", {}, format="json", HTTP_IDEMPOTENCY_KEY="s"
        )
        for _ in range(2)
    ]
    assert [s.status_code for s in submit] == [200, 200], submit[0].content
    assert submit[1]["Idempotent-Replayed"] == "true"
    for _ in range(2):
        response = client.post(
            f"/api/referrals/{draft.reference}/messages/",
            {"body": "Hello"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="m-1",
        )
        assert response.status_code == 201, response.content
    assert Message.objects.filter(referral=draft).count() == 1


def test_anonymous_requests_are_refused_as_before_and_keep_no_key(world: World) -> None:
    response = create(api_client(None), new_referral_body(world))
    assert response.status_code == 401
    assert IdempotencyKey.objects.count() == 0


def test_expired_keys_are_purged_by_a_periodic_task(world: World) -> None:
    client = api_client(world.alice)
    body = new_referral_body(world)
    assert create(client, body).status_code == 201
    assert create(client, body, key="fresh").status_code == 201  # a new key: a new request
    IdempotencyKey.objects.filter(key=KEY).update(created_at=timezone.now() - timedelta(hours=25))
    assert "dermbridge.core.idempotency.purge_idempotency_keys" in PERIODIC_TASKS
    result = idempotency.purge_idempotency_keys.enqueue()
    assert result.return_value == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    # An expired key is as good as new even before the purge runs.
    assert create(client, body).status_code == 201
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23))
    assert idempotency.purge_expired() == 0
