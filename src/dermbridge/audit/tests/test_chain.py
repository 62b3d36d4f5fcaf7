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


def test_it_names_an_altered_event(chain):
    victim = chain[3]
    # Bypass the ORM as an attacker with database access would.
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET action = 'nothing' WHERE seq = %s", [victim.seq])
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == victim.seq
    with pytest.raises(CommandError, match=f"#{victim.seq}"):
        call_command("audit-verify")


def test_it_names_a_removed_event(chain):
    victim = chain[2]
    AuditEvent.objects.filter(seq=victim.seq).delete()
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == victim.seq


def test_it_notices_the_last_events_removed(chain):
    AuditEvent.objects.filter(seq=chain[-1].seq).delete()
    result = verify_chain()
    assert not result.ok and "removed" in result.problem


def test_it_names_an_inserted_event(chain):
    forged = chain[4]
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET seq = seq + 1000 WHERE seq > %s", [forged.seq])
    AuditEvent.objects.create(
        seq=forged.seq + 1, at=forged.at, action="forged", prev_hash=forged.hash, hash="f" * 64
    )
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == forged.seq + 1
