"""Tamper evidence against whoever can write the database but holds neither the audit key nor
the seal file: rewriting (even with every later hash recomputed), insertion, truncation, moving
the start of the keyed events, forged seals. And the chain's lock is never held over blob I/O."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from dermbridge.audit import keys, seals
from dermbridge.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from dermbridge.audit.services import batched, record, seal_chain, verify_chain
from dermbridge.audit.tasks import seal_audit_chain
from dermbridge.referrals.models import State
from dermbridge.testing import make_referral


@pytest.fixture(autouse=True)
def _one_shard(request, settings):
    """These attacks are played on one chain (shard 1) so that positions are predictable; the
    last test spreads events over several shards."""
    if request.node.name != "test_every_shard_is_verified_and_sealed":
        settings.AUDIT_SHARDS = 1


def _events(n: int = 12) -> list[AuditEvent]:
    for i in range(n):
        record(None, "test.event", object_type="x", object_id=i, detail={"i": i})
    return list(AuditEvent.objects.order_by("seq"))


def _rewrite_from(seq: int, *, key: bytes | None = None, action: str = "nothing") -> None:
    """What an attacker with database access does: change one event, then recompute the hash of
    it and of every later event (with the model's own compute_hash) and move the head along."""
    events = list(AuditEvent.objects.filter(shard=1, shard_seq__gte=seq).order_by("shard_seq"))
    prev = (
        AuditEvent.objects.filter(shard=1, shard_seq=seq - 1).values_list("hash", flat=True).first()
    )
    prev = prev or GENESIS_HASH
    events[0].action = action
    with connection.cursor() as cur:
        for event in events:
            event.prev_hash = prev
            event.hash = prev = event.compute_hash(key)
            cur.execute(
                "UPDATE audit_auditevent SET action = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                [event.action, event.prev_hash, event.hash, event.pk],
            )
        cur.execute("UPDATE audit_audithead SET last_hash = %s WHERE id = 1", [prev])


@pytest.mark.django_db
def test_events_are_keyed_and_the_generated_key_is_private(settings):
    events = _events(3)
    assert verify_chain().ok
    head = AuditHead.objects.get(id=1)
    assert head.keyed_from == 1
    assert all(e.hash == e.compute_hash(keys.audit_key()) != e.compute_hash() for e in events)
    path = keys.generated_key_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.django_db
def test_a_rewritten_event_with_every_later_hash_recomputed_is_caught():
    events = _events()
    victim = events[len(events) // 2]
    _rewrite_from(victim.shard_seq)  # plain sha256, as the attack did
    result = verify_chain()
    assert (
        not result.ok and result.first_bad_seq == victim.shard_seq and "altered" in result.problem
    )
    with pytest.raises(CommandError, match=f"#{victim.shard_seq} was altered"):
        call_command("audit-verify")


@pytest.mark.django_db
def test_a_rewrite_under_a_key_of_the_attackers_own_is_caught():
    victim = _events()[4]
    _rewrite_from(victim.shard_seq, key=b"k" * 32)
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == victim.shard_seq


@pytest.mark.django_db
def test_an_inserted_event_with_recomputed_hashes_is_caught():
    events = _events()
    at = events[5]
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE audit_auditevent SET shard_seq = shard_seq + 1000 WHERE shard_seq > %s",
            [at.shard_seq],
        )
        cur.execute(
            "UPDATE audit_auditevent SET shard_seq = shard_seq - 999 WHERE shard_seq > %s",
            [at.shard_seq + 999],
        )
    forged = AuditEvent(
        shard=1, shard_seq=at.shard_seq + 1, at=at.at, action="forged", prev_hash=at.hash
    )
    forged.hash = forged.compute_hash()
    forged.save(force_insert=True)
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE audit_audithead SET last_seq = last_seq + 1, count = count + 1 WHERE id = 1"
        )
    _rewrite_from(at.shard_seq + 1, action="forged")
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == at.shard_seq + 1


@pytest.mark.django_db
def test_truncation_with_the_head_moved_back_is_caught_by_the_seal():
    events = _events()
    call_command("audit-verify")  # verifies, then seals the tip
    newest, before = events[-1], events[-2]
    AuditEvent.objects.filter(pk=newest.pk).delete()
    AuditHead.objects.filter(id=1).update(
        last_seq=before.shard_seq, last_hash=before.hash, count=len(events) - 1
    )
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == newest.shard_seq
    assert f"records #{newest.shard_seq}" in result.problem
    with pytest.raises(CommandError, match="removed"):
        call_command("audit-verify")


@pytest.mark.django_db
def test_a_sealed_event_rewritten_is_caught_even_if_its_hash_were_right():
    events = _events()
    assert seal_chain()
    # Swap the sealed tip's hash for another value that the chain itself would accept: the
    # attacker recomputes the tip with a key of his own and rewrites the head to match.
    _rewrite_from(events[-1].shard_seq, key=b"x" * 32)
    result = verify_chain()
    assert not result.ok and result.first_bad_seq == events[-1].shard_seq


@pytest.mark.django_db
def test_moving_the_start_of_the_keyed_events_is_caught():
    """A downgrade: mark every event as written before the key existed and re-hash them all
    with plain sha256. The seals pin where keyed events begin."""
    _events()
    assert seal_chain()
    AuditHead.objects.filter(id=1).update(keyed_from=None)
    _rewrite_from(1, action="test.event")
    result = verify_chain()
    assert not result.ok and "keyed from event #1" in result.problem


@pytest.mark.django_db
def test_a_forged_or_damaged_seal_line_is_reported():
    _events(3)
    assert seal_chain()
    path = seals.seal_path()
    line = json.loads(path.read_text().splitlines()[-1])
    line["seq"] = 2
    with path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    result = verify_chain()
    assert not result.ok and "line 2 has a signature" in result.problem


@pytest.mark.django_db
def test_audit_verify_seals_an_intact_chain_and_the_periodic_task_too(capsys):
    _events(4)
    call_command("audit-verify")
    out = capsys.readouterr()
    assert "4 events verified against 0 seals" in out.out and "no seals" in out.err
    lines = seals.seal_path().read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["heads"][0][:2] == [1, 4]
    assert stat.S_IMODE(seals.seal_path().stat().st_mode) == 0o600
    assert seal_audit_chain.call() == "unchanged"  # nothing new since
    record(None, "test.event")
    assert seal_audit_chain.call() == "sealed"
    call_command("audit-verify", "--no-seal")
    assert "5 events verified against 2 seals" in capsys.readouterr().out
    from dermbridge.core.scheduler import PERIODIC_TASKS

    assert "dermbridge.audit.tasks.seal_audit_chain" in PERIODIC_TASKS


@pytest.mark.django_db
def test_unkeyed_events_from_before_the_key_still_verify():
    """A database from before the chain was keyed: its events are plain sha256 and the head has
    no keyed_from. The next append keys the chain from there on; both parts verify."""
    prev = GENESIS_HASH
    for seq in range(1, 4):
        old = AuditEvent(seq=seq, shard_seq=seq, at=timezone.now(), action="old", prev_hash=prev)
        old.hash = prev = old.compute_hash()
        old.save(force_insert=True)
    AuditHead.objects.create(id=1, last_seq=3, last_hash=prev, count=3, keyed_from=None)
    with connection.cursor() as cur:  # as migration 0003 does: the database numbers rows now
        from django.core.management.color import no_style

        for sql in connection.ops.sequence_reset_sql(no_style(), [AuditEvent]):
            cur.execute(sql)
    assert verify_chain().ok
    new = record(None, "test.event")
    assert new.shard_seq == 4 and AuditHead.objects.get(id=1).keyed_from == 4
    assert new.hash == new.compute_hash(keys.audit_key())
    assert verify_chain().ok
    # Rewriting the old, unkeyed part is still caught by the chain through the keyed part.
    _rewrite_from(2)
    assert not verify_chain().ok


def test_a_configured_key_is_used_and_a_bad_one_refused(settings, tmp_path):
    from dermbridge.config import ConfigurationError

    raw = bytes(range(32))
    try:
        settings.AUDIT_KEY = base64.b64encode(raw).decode()
        keys.audit_key.cache_clear()
        assert keys.audit_key() == raw
        settings.AUDIT_KEY = ""
        key_file = tmp_path / "audit-key"
        key_file.write_text(base64.b64encode(raw[::-1]).decode() + "\n")
        settings.AUDIT_KEY_FILE = str(key_file)
        keys.audit_key.cache_clear()
        assert keys.audit_key() == raw[::-1]
        settings.AUDIT_KEY_FILE = ""
        settings.AUDIT_KEY = "c2hvcnQ="
        keys.audit_key.cache_clear()
        with pytest.raises(ConfigurationError, match="DERMBRIDGE_AUDIT_KEY"):
            keys.audit_key()
    finally:
        keys.audit_key.cache_clear()


@pytest.mark.django_db
def test_batched_events_are_appended_at_the_end_or_not_at_all():
    with batched():
        first = record(None, "test.one")
        assert AuditEvent.objects.count() == 0 and first.shard_seq is None
        record(None, "test.two")
    assert [e.action for e in AuditEvent.objects.order_by("seq")] == ["test.one", "test.two"]
    assert first.shard_seq == 1 and verify_chain().ok
    with pytest.raises(RuntimeError), batched():
        record(None, "test.three")
        raise RuntimeError
    assert AuditEvent.objects.count() == 2


def test_no_blob_is_written_while_the_upload_holds_the_chain(world, monkeypatch):
    """Several photos uploaded together: every blob is written before the transaction appends
    its first audit event, so the chain's lock is never held across a blob write."""
    from dermbridge.imaging.blobstore import BlobStore
    from dermbridge.imaging.services import accept_uploads
    from dermbridge.imaging.synthetic import lesion_photo

    referral = make_referral(world, state=State.DRAFT, images=False)
    lesion = referral.lesions.get()
    head_at_put: list[int] = []
    real_put = BlobStore.put

    def put(self, data, *args, **kwargs):  # type: ignore[no-untyped-def]
        head_at_put.append(AuditHead.objects.get(id=1).last_seq)
        return real_put(self, data, *args, **kwargs)

    monkeypatch.setattr(BlobStore, "put", put)
    before = AuditHead.objects.get(id=1).last_seq
    files = [io.BytesIO(lesion_photo(640, 480, seed=s, kind="overview")) for s in (1, 2, 3)]
    accept_uploads(lesion, user=world.alice, files=files, image_type="overview")
    assert head_at_put[:3] == [before, before, before]
    assert AuditHead.objects.get(id=1).last_seq >= before + 3
    assert verify_chain().ok


def test_seal_lines_carry_no_patient_data(world):
    make_referral(world, state=State.AWAITING_REVIEW)
    assert seal_chain()
    line = json.loads(seals.seal_path().read_text())
    assert set(line) == {"v", "heads", "at", "host", "sig"}
    assert all(
        len(h) == 5 and len(h[2]) == len(hashlib.sha256().hexdigest()) for h in line["heads"]
    )


@pytest.mark.django_db
def test_every_shard_is_verified_and_sealed():
    """Appends on several shards (as concurrent PostgreSQL transactions make them): each shard is
    its own chain; a rewrite or a truncation on any one of them is caught."""
    for shard in (1, 2, 3, 2, 3, 3):
        connection._dermbridge_audit_shard = shard  # type: ignore[attr-defined]  # the shard held
        record(None, "test.event", object_type="x", object_id=shard)
    connection._dermbridge_audit_shard = 0  # type: ignore[attr-defined]
    counts = dict(AuditHead.objects.filter(count__gt=0).values_list("id", "count"))
    assert counts == {1: 1, 2: 2, 3: 3}
    assert verify_chain().ok and verify_chain().checked == 6
    assert seal_chain()
    victim = AuditEvent.objects.get(shard=3, shard_seq=3)
    victim.delete()
    AuditHead.objects.filter(id=3).update(
        last_seq=2, count=2, last_hash=AuditEvent.objects.get(shard=3, shard_seq=2).hash
    )
    result = verify_chain()
    assert not result.ok and "shard 3 after #2 were removed" in result.problem
