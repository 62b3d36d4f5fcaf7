"""`dermbridge reconcile`: each kind of damage is found, `--repair` fixes what is safe, every
repair and run is audited, and the exit status says whether anything is still wrong."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dermbridge.audit.models import AuditEvent
from dermbridge.audit.services import verify_chain
from dermbridge.core import reconcile
from dermbridge.imaging.models import ImageStatus, ImageType, LesionImage
from dermbridge.imaging.storage import blob_store
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import World, make_referral

pytestmark = pytest.mark.django_db
LONG_AGO = timezone.now() - timedelta(hours=2)


@pytest.fixture(autouse=True)
def own_blob_store(settings: Any, tmp_path: Path) -> Iterator[None]:
    """A blob store of this test's own: what other tests leave in the shared one is not ours."""
    settings.BLOB_ROOT = tmp_path / "own-blobs"
    blob_store.cache_clear()
    yield
    blob_store.cache_clear()


def _kinds(report: reconcile.Report) -> dict[str, int]:
    return report.counts()


def _age_blob(address: str, hours: float = 48) -> None:
    """Make a stored blob look old (its files' modification times), as blobs-gc sees them."""
    root = blob_store().backend.root  # type: ignore[attr-defined]
    stamp = time.time() - hours * 3600
    for path in (root / address[:2] / address[2:4]).glob(f"{address}.*"):
        os.utime(path, (stamp, stamp))


def test_a_clean_instance_has_no_problems(world: World) -> None:
    """GIVEN a referral with ready images and its AI assessments WHEN reconcile runs (full and
    quick) THEN it finds nothing, exits 0 and records a summary with counts."""
    make_referral(world, state=State.AWAITING_REVIEW)
    for quick in (False, True):
        report = reconcile.run(quick=quick)
        assert report.findings == [] and report.ok, report.render()
    assert report.checked["images"] == 3
    call_command("reconcile")  # exit 0: no SystemExit
    event = AuditEvent.objects.filter(action="reconcile.run").latest("seq")
    assert event.detail["problems"] == 0 and event.detail["counts"] == {}
    assert event.actor_id is None and event.object_type == "core.reconcile"


def test_it_finds_missing_damaged_and_unreferenced_blobs(world: World, capsys: Any) -> None:
    """GIVEN a ready image whose viewer blob is gone, one whose master does not match its hash,
    and an old blob no row names WHEN reconcile runs THEN each is reported (the damage only by
    the full check), the report names no patient, and the exit status is 1."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    overview, close_up, _ = LesionImage.objects.filter(lesion__referral=referral).order_by("pk")
    overview.derivatives["viewer"] = {**overview.derivatives["viewer"], "address": "ab" * 32}
    overview.save()
    close_up.derivatives["master"] = {**close_up.derivatives["master"], "sha256": "0" * 64}
    close_up.save()
    orphan = blob_store().put(b"nobody names me" + secrets.token_bytes(8))
    _age_blob(orphan)
    recent = blob_store().put(b"an upload in flight" + secrets.token_bytes(8))

    full = reconcile.run()
    assert _kinds(full) == {"missing_blob": 1, "unreadable_blob": 1, "unreferenced_blob": 1}
    assert full.recent_unreferenced_blobs == 1 and not full.ok
    missing = next(f for f in full.findings if f.kind == "missing_blob")
    assert missing.subject == f"image {overview.pk}" and "derivative viewer" in missing.detail
    assert not missing.repairable
    assert "unreadable_blob" not in _kinds(reconcile.run(quick=True))

    with pytest.raises(SystemExit) as exit_:
        call_command("reconcile", "--json")
    assert exit_.value.code == 1
    out = json.loads(capsys.readouterr().out)
    assert out["problems"] == 3 and out["counts"]["unreferenced_blob"] == 1
    text = reconcile.run().render()
    assert referral.patient.family_name not in text and referral.patient.nhs_number not in text

    repaired = reconcile.run(repair=True)
    assert [f.kind for f in repaired.findings if f.repaired] == ["unreferenced_blob"]
    assert not blob_store().exists(orphan) and blob_store().exists(recent)
    assert {f.kind for f in repaired.needs_person} == {"missing_blob", "unreadable_blob"}
    assert AuditEvent.objects.filter(action="blobs.sweep").exists()


def test_repair_requeues_or_fails_stuck_images(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN an image stuck in processing whose upload exists, one whose upload is gone, and a
    young one still processing WHEN reconcile --repair runs THEN the first is processed, the second
    fails with a reason the photographer can act on, the young one is left alone; audited."""
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    photo = lesion_photo(1024, 768, seed=3, kind=ImageType.OVERVIEW)

    def processing(address: str, uploaded_at: Any) -> LesionImage:
        return LesionImage.objects.create(
            lesion=lesion,
            image_type=ImageType.OVERVIEW,
            upload_address=address,
            uploaded_by=world.alice,
            uploaded_at=uploaded_at,
        )

    stuck = processing(blob_store().put(photo), LONG_AGO)
    lost = processing("cd" * 32, LONG_AGO)
    young = processing(blob_store().put(photo + b"\0"), timezone.now())

    report = reconcile.run()
    assert _kinds(report) == {"image_stuck_processing": 1, "missing_blob": 1}
    with django_capture_on_commit_callbacks(execute=True):
        repaired = reconcile.run(repair=True)
    assert repaired.ok, repaired.render()
    for image in (stuck, lost, young):
        image.refresh_from_db()
    assert stuck.status == ImageStatus.READY, stuck.failure_reason
    assert lost.status == ImageStatus.FAILED and "upload the photo again" in lost.failure_reason
    assert young.status == ImageStatus.PROCESSING
    events = AuditEvent.objects.filter(object_type="imaging.lesionimage")
    assert events.filter(action="image.requeued", object_id=str(stuck.pk)).exists()
    assert events.filter(action="image.failed", object_id=str(lost.pk)).exists()
    summary = events.filter(action="reconcile.repair").latest("seq").detail
    assert summary == {"finding": "image_stuck_processing", "requeued": 1, "failed": 1}
    assert reconcile.run().ok
    assert verify_chain().ok


def test_repair_requeues_stuck_referrals_and_missing_assessments(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a referral submitted long ago whose prepare_for_review task was lost, and a ready
    dermoscopic image without an AI assessment WHEN reconcile --repair runs THEN the referral
    reaches the worklist and the image is assessed."""
    referral = make_referral(world, state=State.SUBMITTED)
    Referral.objects.filter(pk=referral.pk).update(submitted_at=LONG_AGO)
    LesionImage.objects.filter(lesion__referral=referral).update(processed_at=LONG_AGO)
    report = reconcile.run()
    kinds = _kinds(report)
    assert kinds["referral_stuck_submitted"] == 1
    model_available = "assessment_missing" in kinds
    with django_capture_on_commit_callbacks(execute=True):
        repaired = reconcile.run(repair=True)
    assert repaired.ok, repaired.render()
    assert Referral.objects.get(pk=referral.pk).state == State.AWAITING_REVIEW
    if model_available:
        dermoscopic = LesionImage.objects.get(
            lesion__referral=referral, image_type=ImageType.DERMOSCOPIC
        )
        assert dermoscopic.assessments.exists()
    assert reconcile.run().ok


def test_it_finds_stuck_tasks_and_puts_expired_leases_back(world: World) -> None:
    """GIVEN a task running past its lease (its worker died) and one queued for hours WHEN
    reconcile runs THEN both are reported; --repair puts the first back to READY and leaves the
    second (no worker running) to a person."""
    now = timezone.now()

    def task(status: str, **fields: Any) -> DBTaskResult:
        return DBTaskResult.objects.create(
            status=status,
            args_kwargs={"args": [1], "kwargs": {}},
            task_path="dermbridge.referrals.tasks.prepare_for_review",
            queue_name="default",
            backend_name="default",
            run_after=fields.pop("run_after", now),
            **fields,
        )

    dead = task(
        "RUNNING",
        started_at=now - timedelta(hours=1),
        run_after=now - timedelta(minutes=30),
        worker_ids=["w1"],
    )
    waiting = task("READY")
    DBTaskResult.objects.filter(pk=waiting.pk).update(enqueued_at=now - timedelta(hours=3))
    report = reconcile.run()
    assert _kinds(report) == {"task_lease_expired": 1, "task_waiting": 1}
    repaired = reconcile.run(repair=True)
    dead.refresh_from_db()
    assert dead.status == "READY"
    assert [f.kind for f in repaired.needs_person] == ["task_waiting"]
    assert "dermbridge worker" in repaired.needs_person[0].action


def test_missing_derivatives_need_a_person(world: World) -> None:
    referral = make_referral(world)
    image = LesionImage.objects.filter(lesion__referral=referral).first()
    assert image is not None
    del image.derivatives["ers"]
    image.save()
    report = reconcile.run(repair=True)
    assert _kinds(report) == {"derivatives_missing": 1}
    assert "ers" in report.findings[0].detail and not report.ok


def test_last_run_and_the_daily_task(world: World) -> None:
    """GIVEN no reconcile yet WHEN the daily task runs twice THEN it runs once (the second is
    within a day) and the last result is what the dashboard shows."""
    from dermbridge.core.scheduler import PERIODIC_TASKS
    from dermbridge.core.tasks import reconcile_daily

    assert "dermbridge.core.tasks.reconcile_daily" in PERIODIC_TASKS
    assert reconcile.last_run() is None
    assert reconcile_daily.call() != "skipped"
    assert reconcile_daily.call() == "skipped"
    last = reconcile.last_run()
    assert last is not None and last.problems == 0
    assert AuditEvent.objects.filter(action="reconcile.run").count() == 1


def test_the_dashboard_shows_the_last_check(world: World, client: Any) -> None:
    """GIVEN no check yet, then a check that found an old unreferenced blob WHEN the service
    administrator opens the dashboard THEN it says 'not checked yet', then the time and the
    number of problems."""
    client.force_login(world.sam)
    assert "Data integrity: not checked yet" in client.get("/dashboard/").content.decode()
    _age_blob(blob_store().put(b"left behind" + secrets.token_bytes(8)))
    reconcile.run()
    body = client.get("/dashboard/").content.decode()
    assert "Data integrity: last check" in body and ": 1 problem (1 needs a person" in body


def test_a_key_record_the_keyring_cannot_open_is_reported_once(world: World) -> None:
    """GIVEN a ready image whose thumbnail's key record is damaged (as with a missing master key)
    WHEN reconcile runs THEN the full check reports the unreadable blob once, and the quick check
    (which does not decrypt) still finds the key record it cannot open."""
    referral = make_referral(world)
    image = LesionImage.objects.filter(lesion__referral=referral).order_by("pk").first()
    assert image is not None
    # A thumbnail of its own, so the damage touches no other version.
    address = blob_store().put(b"a thumbnail" + secrets.token_bytes(8))
    image.derivatives["thumbnail"] = {**image.derivatives["thumbnail"], "address": address}
    image.derivatives["thumbnail"]["sha256"] = ""
    image.save()
    root = blob_store().backend.root  # type: ignore[attr-defined]
    (root / address[:2] / address[2:4] / f"{address}.key").write_bytes(b"DBK2garbage")
    assert _kinds(reconcile.run()) == {"unreadable_blob": 1}
    assert _kinds(reconcile.run(quick=True)) == {"unreadable_key_record": 1}
