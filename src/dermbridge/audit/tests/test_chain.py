"""The audit chain detects any row altered, inserted or removed."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from dermbridge.audit.models import AuditEvent
from dermbridge.audit.services import record, verify_chain
from dermbridge.referrals.models import State
from dermbridge.testing import make_referral


@pytest.fixture(autouse=True)
def _one_shard(settings):
    """One chain (shard 1), so that the tests know where each event sits (ADR 0008)."""
    settings.AUDIT_SHARDS = 1


@pytest.fixture
def chain(world):
    make_referral(world, state=State.AWAITING_REVIEW)
    for i in range(5):
        record(world.alice, "test.event", object_type="x", object_id=i)
    assert AuditEvent.objects.count() > 8
    return list(AuditEvent.objects.order_by("seq"))


def test_it_verifies_an_intact_chain(chain, capsys):
    assert verify_chain().ok
    call_command("audit-verify")
    assert "intact" in capsys.readouterr().out


def test_it_records_who_what_and_where(world):
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    event = AuditEvent.objects.filter(action="referral.submit", object_id=str(referral.pk)).get()
    assert event.actor_id == world.alice.pk and event.organisation_id == world.practice_a.pk
    assert event.detail == {"from": "draft", "to": "submitted"}


def test_it_records_the_request_id_and_client_address_of_a_page_view(world, client):
    """Every event written during a request carries that request's id (also sent back as
    X-Request-ID, so a support call can be matched to the trail) and the client address."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    client.force_login(world.derek)
    response = client.get(f"/referrals/{referral.pk}/", REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 200
    event = AuditEvent.objects.filter(action="referral.view", actor_id=world.derek.pk).get()
    assert event.request_id == response["X-Request-ID"] and len(event.request_id) == 32
    assert event.client_address == "192.0.2.7"
    assert event.organisation_id == world.service.pk and event.object_id == str(referral.pk)
    # A second request is another id; work outside a request (tasks, commands) has none.
    again = client.get(f"/referrals/{referral.pk}/", REMOTE_ADDR="192.0.2.7")
    assert again["X-Request-ID"] != response["X-Request-ID"]
    outside = record(None, "test.event", object_type="x", object_id=1)
    assert (outside.request_id, outside.client_address) == ("", None)


def test_audit_verify_names_a_removed_or_inserted_event(chain):
    """The command (not only the function) fails on a removed row and on a forged insertion."""
    AuditEvent.objects.filter(pk=chain[2].pk).delete()
    with pytest.raises(CommandError, match=f"#{chain[2].shard_seq}"):
        call_command("audit-verify")
    forged = chain[2]
    forged.action = "forged"
    forged.save(force_insert=True)  # the same seq back, but not the event that was there
    with pytest.raises(CommandError, match=f"#{chain[2].shard_seq}"):
        call_command("audit-verify")


def test_it_names_an_altered_event(chain):
    victim = chain[3]
    # Bypass the ORM as an attacker with database access would.
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET action = 'nothing' WHERE seq = %s", [victim.pk])
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == victim.shard_seq
    with pytest.raises(CommandError, match=f"#{victim.shard_seq}"):
        call_command("audit-verify")


def test_it_names_a_removed_event(chain):
    victim = chain[2]
    AuditEvent.objects.filter(pk=victim.pk).delete()
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == victim.shard_seq


def test_it_notices_the_last_events_removed(chain):
    AuditEvent.objects.filter(pk=chain[-1].pk).delete()
    result = verify_chain()
    assert not result.ok and "removed" in result.problem


def test_it_names_an_inserted_event(chain):
    forged = chain[4]
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE audit_auditevent SET shard_seq = shard_seq + 1000 WHERE shard_seq > %s",
            [forged.shard_seq],
        )
    AuditEvent.objects.create(
        shard_seq=forged.shard_seq + 1,
        at=forged.at,
        action="forged",
        prev_hash=forged.hash,
        hash="f" * 64,
    )
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == forged.shard_seq + 1
