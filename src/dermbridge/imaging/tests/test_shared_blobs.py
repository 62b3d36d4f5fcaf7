"""The same bytes uploaded twice share blobs: nothing one image does may lose the other's photo.

Issue #10's defect: finishing or rejecting one image deleted the raw upload blob that a second
image of the same bytes still needed (its task then failed with BlobNotFound and the image stayed
processing for good). Also: temporary errors are retried, stuck images are put back in the queue,
and the task a row depends on commits with the row.
"""

from __future__ import annotations

import threading
from io import BytesIO
from pathlib import Path

import pytest
from django.db import connection, connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dermbridge.imaging import blobrefs, processing, services, storage
from dermbridge.imaging.blobstore import BlobStoreUnavailable
from dermbridge.imaging.models import BlobRef, ImageStatus, LesionImage
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.testing import make_referral


@pytest.fixture
def blob_root(tmp_path, settings):
    settings.BLOB_ROOT = tmp_path / "blobs"
    storage.blob_store.cache_clear()
    yield settings.BLOB_ROOT
    storage.blob_store.cache_clear()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what a block queues for after its commit (blob releases), as production does."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _upload(lesion, user, data: bytes, image_type: str = "overview") -> LesionImage:
    return services.accept_upload(lesion, user=user, fileobj=BytesIO(data), image_type=image_type)


PHOTO = lesion_photo(900, 700, seed=7)


def test_a_second_upload_of_the_same_bytes_survives_the_first_being_processed(
    world, blob_root, committed
):
    """GIVEN the same photo uploaded twice (a client's retry)
    WHEN the first is processed (its raw upload released)
    THEN the second still has its upload blob and is processed too."""
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    first, second = _upload(lesion, world.alice, PHOTO), _upload(lesion, world.alice, PHOTO)
    assert first.upload_address == second.upload_address  # content-addressed: one blob
    with committed():
        assert processing.process_lesion_image(first.pk) == "ready"
    assert storage.blob_store().exists(second.upload_address)
    with committed():
        assert processing.process_lesion_image(second.pk) == "ready"
    second.refresh_from_db()
    assert second.status == ImageStatus.READY
    # Both ready images name the same derivatives; each is readable.
    first.refresh_from_db()
    assert first.derivatives["viewer"]["address"] == second.derivatives["viewer"]["address"]
    assert services.read_derivative(second, "viewer", user=world.alice)[0]
    # The raw upload is gone once nobody needs it.
    assert not storage.blob_store().exists(storage.blob_store().address_of(PHOTO))


def test_a_rejected_duplicate_does_not_take_the_other_uploads_blob(world, blob_root, committed):
    """GIVEN a file the pipeline rejects, uploaded twice
    WHEN the first is rejected
    THEN the second is rejected on its own merits, not failed for a missing blob."""
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    bad = lesion_photo(120, 90)  # too small: rejected by the pipeline
    first, second = _upload(lesion, world.alice, bad), _upload(lesion, world.alice, bad)
    with committed():
        assert processing.process_lesion_image(first.pk) == "rejected"
    with committed():
        assert processing.process_lesion_image(second.pk) == "rejected"
    second.refresh_from_db()
    assert second.failure_reason and "lost" not in second.failure_reason
    assert _blob_files(blob_root) == []


def test_deleting_one_of_two_identical_photos_keeps_the_others_blobs(world, blob_root, committed):
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    first, second = _upload(lesion, world.alice, PHOTO), _upload(lesion, world.alice, PHOTO)
    for image in (first, second):
        with committed():
            processing.process_lesion_image(image.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    with committed():
        services.delete_image(first, user=world.alice)
    for name in ("master", "viewer", "thumbnail"):
        assert storage.blob_store().exists(second.derivatives[name]["address"])
    with committed():
        services.delete_image(second, user=world.alice)
    assert _blob_files(blob_root) == []
    assert not BlobRef.objects.exists()


def test_refs_follow_the_row_through_its_life(world, blob_root):
    referral = make_referral(world, images=False)
    image = _upload(referral.lesions.get(), world.alice, PHOTO)
    assert set(BlobRef.objects.values_list("address", flat=True)) == {image.upload_address}
    processing.process_lesion_image(image.pk)
    image.refresh_from_db()
    assert set(BlobRef.objects.values_list("address", flat=True)) == blobrefs.image_addresses(image)
    assert not image.upload_address


def test_a_temporary_store_error_is_retried_then_fails_with_a_reason(world, blob_root, monkeypatch):
    """GIVEN the blob store is unavailable whenever the pipeline runs
    THEN each run counts an attempt and the image stays processing (to be run again), and after
    MAX_ATTEMPTS it fails with a reason the photographer can act on — never left processing."""
    referral = make_referral(world, images=False)
    image = _upload(referral.lesions.get(), world.alice, PHOTO)
    store = storage.blob_store()

    def unavailable(address: str) -> bytes:
        raise BlobStoreUnavailable("Could not read a photo: the object store is unavailable.")

    monkeypatch.setattr(store, "get", unavailable)
    for attempt in range(1, processing.MAX_ATTEMPTS):
        assert processing.process_lesion_image(image.pk) == "retrying"
        image.refresh_from_db()
        assert image.status == ImageStatus.PROCESSING
        assert image.processing_attempts == attempt
    assert processing.process_lesion_image(image.pk) == "failed"
    image.refresh_from_db()
    assert image.status == ImageStatus.FAILED
    assert image.failure_reason == processing.REASON_TEMPORARY
    assert "upload it again" in image.failure_reason.lower()


def test_an_unexpected_error_fails_the_image_with_a_reason(
    world, blob_root, monkeypatch, committed
):
    referral = make_referral(world, images=False)
    image = _upload(referral.lesions.get(), world.alice, PHOTO)

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(processing, "run_pipeline", broken)
    with committed():
        assert processing.process_lesion_image(image.pk) == "failed"
    image.refresh_from_db()
    assert image.status == ImageStatus.FAILED and image.failure_reason == processing.REASON_INTERNAL
    assert _blob_files(blob_root) == []  # its upload released


def test_a_lost_upload_blob_fails_the_image_with_a_reason(world, blob_root):
    referral = make_referral(world, images=False)
    image = _upload(referral.lesions.get(), world.alice, PHOTO)
    storage.blob_store().delete(image.upload_address)
    assert processing.process_lesion_image(image.pk) == "failed"
    image.refresh_from_db()
    assert image.failure_reason == processing.REASON_UPLOAD_LOST


def test_the_sweep_requeues_a_stuck_image_and_fails_one_whose_upload_is_gone(
    world, blob_root, committed
):
    """GIVEN two images left processing with no task (a process died after the commit)
    WHEN the periodic sweep runs
    THEN the one whose upload exists is processed again; the other fails with a reason."""
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    kept = _upload(lesion, world.alice, PHOTO)
    lost = _upload(lesion, world.alice, lesion_photo(900, 700, seed=8))
    storage.blob_store().delete(lost.upload_address)
    LesionImage.objects.update(uploaded_at=timezone.now() - processing.STUCK_AFTER * 2)
    counts = processing.requeue_stuck_images()  # the test backend would run it on commit
    assert counts == {"requeued": 1, "failed": 1}
    lost.refresh_from_db()
    assert lost.status == ImageStatus.FAILED
    assert lost.failure_reason == processing.REASON_UPLOAD_LOST
    # The re-queued task runs (the test backend leaves it to us): the image ends ready.
    with committed():
        assert processing.process_lesion_image(kept.pk) == "ready"
    recent = _upload(lesion, world.alice, lesion_photo(900, 700, seed=9))
    assert processing.requeue_stuck_images() == {"requeued": 0, "failed": 0}
    assert LesionImage.objects.get(pk=recent.pk).status == ImageStatus.PROCESSING


def test_with_the_database_backend_the_task_commits_with_the_row(world, blob_root, settings):
    """GIVEN the database task backend
    THEN an upload's task row is written in the upload's transaction: a rolled-back upload leaves
    no task, a committed one always has its task (no window between commit and enqueue)."""
    from django.db import transaction
    from django_tasks import task_backends

    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks_db.DatabaseBackend",
            "QUEUES": ["default", "imaging", "triage", "notifications", "interop"],
        }
    }
    task_backends._settings = None  # type: ignore[attr-defined]
    task_backends._connections = threading.local()  # type: ignore[attr-defined]
    try:
        referral = make_referral(world, images=False)
        lesion = referral.lesions.get()
        with pytest.raises(RuntimeError), transaction.atomic():
            _upload(lesion, world.alice, PHOTO)
            assert DBTaskResult.objects.count() == 1  # written inside the transaction
            raise RuntimeError("rolled back")
        assert DBTaskResult.objects.count() == 0 and LesionImage.objects.count() == 0
        image = _upload(lesion, world.alice, PHOTO)
        row = DBTaskResult.objects.get()
        assert row.task_path == processing.TASK_PATH and row.args_kwargs["args"] == [image.pk]
    finally:
        task_backends._settings = None  # type: ignore[attr-defined]
        task_backends._connections = threading.local()  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_and_deletes_of_the_same_photos_leave_nothing_behind(
    blob_root, django_db_blocker
):
    """The Orthanc-style race: 5 threads x 10 rounds upload the same two photos to a draft and
    delete them again. At the end: no images, no blobs, no refs — and no upload ever found its
    blob missing. Needs real row locks: PostgreSQL (make test-pg)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: runs against PostgreSQL (make test-pg)")
    from dermbridge.testing import make_world

    world = make_world()
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    photos = [lesion_photo(640, 480, seed=s) for s in (21, 22)]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for round_ in range(10):
                image = _upload(lesion, world.alice, photos[(n + round_) % 2])
                image.refresh_from_db()  # the test backend processed it on commit
                for address in blobrefs.image_addresses(image):
                    assert storage.blob_store().exists(address), image.status
                services.delete_image(image, user=world.alice)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert LesionImage.objects.count() == 0 and BlobRef.objects.count() == 0
    assert _blob_files(blob_root) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_uploads_while_one_is_processed_lose_nothing(blob_root):
    """Uploads of the same bytes racing the processing of an earlier copy: every acknowledged
    upload ends ready (PostgreSQL)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: runs against PostgreSQL (make test-pg)")
    from dermbridge.testing import make_world

    world = make_world()
    # One referral per upload: within a referral the pipeline refuses a repeated photo.
    lesions = [make_referral(world, images=False).lesions.get() for _ in range(9)]
    photo = lesion_photo(900, 700, seed=31)
    ids: list[int] = []
    errors: list[BaseException] = []

    def uploader(n: int) -> None:
        try:
            for i in range(3):
                ids.append(_upload(lesions[n * 3 + i], world.alice, photo).pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def processor() -> None:
        try:
            for _ in range(30):
                for pk in list(
                    LesionImage.objects.filter(status=ImageStatus.PROCESSING).values_list(
                        "pk", flat=True
                    )
                ):
                    processing.process_lesion_image(pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(3)] + [
        threading.Thread(target=processor) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for pk in ids:
        processing.process_lesion_image(pk)
    statuses = set(LesionImage.objects.filter(pk__in=ids).values_list("status", flat=True))
    reasons = set(LesionImage.objects.filter(pk__in=ids).values_list("failure_reason", flat=True))
    assert statuses == {ImageStatus.READY}, reasons
