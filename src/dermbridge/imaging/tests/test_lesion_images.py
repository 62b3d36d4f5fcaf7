"""Photos of a lesion through the database path: upload, pipeline task, encrypted storage."""

from __future__ import annotations

import os
import tempfile
from io import BytesIO
from pathlib import Path

import pytest
from django.core.management import call_command
from PIL import Image

from dermbridge.audit.models import AuditEvent
from dermbridge.core.errors import InvalidImage, InvalidReferral, NotPermitted, TransitionNotAllowed
from dermbridge.imaging import services, storage
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.referrals import services as referral_services
from dermbridge.referrals.models import State
from dermbridge.testing import make_referral

SIGNATURES = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"ftypheic", b"ftypmif1", b"WEBPVP8"]


@pytest.fixture
def blob_root(tmp_path, settings):
    """A fresh blob store per test, so orphan and plaintext checks see only this test's blobs."""
    settings.BLOB_ROOT = tmp_path / "blobs"
    storage.blob_store.cache_clear()
    yield settings.BLOB_ROOT
    storage.blob_store.cache_clear()


def _blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _draft(world):
    referral = make_referral(world, images=False)
    return referral, referral.lesions.get()


def test_it_processes_an_upload_into_encrypted_derivatives(world, blob_root):
    """GIVEN a GP uploads a dermoscopic photo with GPS metadata
    WHEN the pipeline task runs
    THEN the image is ready with master, viewer, thumbnail, AI input and an e-RS copy under 5 MB,
    every one decrypts to a metadata-free image, the raw upload is gone, and it was audited."""
    _referral, lesion = _draft(world)
    photo = Image.open(BytesIO(lesion_photo(1600, 1200, kind="dermoscopic")))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPSInfo
    out = BytesIO()
    photo.save(out, "JPEG", exif=exif.tobytes(), quality=92)
    image = services.accept_upload(
        lesion, user=world.alice, fileobj=BytesIO(out.getvalue()), image_type="dermoscopic"
    )
    assert image.status == ImageStatus.PROCESSING and image.upload_address
    assert services.process_lesion_image(image.pk) == "ready"
    image.refresh_from_db()
    assert image.status == ImageStatus.READY and image.upload_address == ""
    assert set(image.derivatives) >= {"master", "viewer", "thumbnail", "ai_input", "ers"}
    assert image.derivatives["ers"]["size"] <= 5_000_000
    store = storage.blob_store()
    for entry in image.derivatives.values():
        data = store.get(entry["address"])
        with Image.open(BytesIO(data)) as decoded:
            assert not decoded.getexif().get(0x8825), "GPS must be stripped"
        assert entry["master_sha256"] == image.master_sha256
    assert AuditEvent.objects.filter(action="image.upload", object_id=str(image.pk)).exists()
    assert services.process_lesion_image(image.pk) == "skipped"  # safe to run twice


def plaintext_images(data: bytes) -> list[str]:
    """Where in `data` an image a decoder would open begins (whole file scanned, not a header).

    A 3-byte JPEG marker turns up by chance in about one ciphertext megabyte in six, so a
    signature alone is only a candidate: it counts when Pillow can read an image from there."""
    found = []
    for signature in SIGNATURES:
        at = data.find(signature)
        while at >= 0:
            start = at - 4 if signature.startswith(b"ftyp") else at
            start = at - 8 if signature == b"WEBPVP8" else start
            try:
                with Image.open(BytesIO(data[max(0, start) :])) as candidate:
                    candidate.verify()
                found.append(f"{signature!r} at {at}")
            except Exception:  # noqa: S110 - not an image there: keep looking
                pass
            at = data.find(signature, at + 1)
    return found


def test_it_keeps_no_image_bytes_unencrypted_on_disk(
    world, blob_root, settings, client, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    """GIVEN photos uploaded through the photo page (the upload handler, the view, the pipeline
    task), with Python's temporary directory pointed at an empty one of this test's
    WHEN every file under that temporary directory, the blob store and the data directory
    written since the test began is read whole
    THEN no JPEG, PNG, HEIC or WebP image can be decoded from any of them."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    data_dir = Path(settings.DATA_DIR)
    before = {p: p.stat().st_mtime_ns for p in data_dir.rglob("*") if p.is_file()}
    referral, lesion = _draft(world)
    client.force_login(world.alice)
    for kind in ("overview", "close_up", "dermoscopic"):
        photo = BytesIO(lesion_photo(1024, 768, kind=kind))
        photo.name = f"{kind}.jpg"
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/referrals/{referral.pk}/lesions/{lesion.pk}/photos/",
                {"photos": [photo], "image_type": kind},
            )
        assert response.status_code == 302
    assert set(lesion.images.values_list("status", flat=True)) == {ImageStatus.READY}
    assert len(_blob_files(blob_root)) >= 10
    written = [
        *_blob_files(blob_root),
        *(p for p in temp.rglob("*") if p.is_file()),
        *(p for p in data_dir.rglob("*") if p.is_file() and before.get(p) != p.stat().st_mtime_ns),
    ]
    for path in written:
        assert not plaintext_images(path.read_bytes()), f"{path} holds an unencrypted image"
    # The scan itself finds an image when there is one (it is not blind).
    assert plaintext_images(b"junk" + lesion_photo(64, 48, kind="close_up"))


def test_it_rejects_a_non_image_and_keeps_nothing(world, blob_root):
    """GIVEN a PDF chosen instead of a photo THEN it is refused at once, saying what it is, with
    nothing stored: no image row to remove by hand, no blob, and the referral is unchanged."""
    referral, lesion = _draft(world)
    with pytest.raises(InvalidImage, match="PDF document, not a photo") as refused:
        services.accept_upload(
            lesion, user=world.alice, fileobj=BytesIO(b"%PDF-1.4 hello"), image_type="overview"
        )
    assert refused.value.field_errors["file"]
    assert not LesionImage.objects.filter(lesion=lesion).exists()
    assert _blob_files(blob_root) == []
    problems = referral_services.submission_problems(referral)
    assert not any("could not be used" in p for p in problems)


def test_it_leaves_no_orphan_blob_when_the_pipeline_crashes(world, blob_root, monkeypatch):
    """GIVEN the worker dies while writing derivatives (simulated by a failing write)
    WHEN the task fails
    THEN no derivative blob is left behind, the image is still processing with the attempt
    counted (a disk error is temporary: retried with back-off), and a rerun succeeds."""
    _referral, lesion = _draft(world)
    image = services.accept_upload(
        lesion, user=world.alice, fileobj=BytesIO(lesion_photo(1024, 768)), image_type="dermoscopic"
    )
    upload_files = set(_blob_files(blob_root))
    store = storage.blob_store()
    real_put = store.put
    calls = {"n": 0}

    def failing_put(data: bytes) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_put(data)

    monkeypatch.setattr(store, "put", failing_put)
    assert services.process_lesion_image(image.pk) == "retrying"
    assert set(_blob_files(blob_root)) == upload_files
    stuck = LesionImage.objects.get(pk=image.pk)
    assert stuck.status == ImageStatus.PROCESSING and stuck.processing_attempts == 1
    monkeypatch.setattr(store, "put", real_put)
    assert services.process_lesion_image(image.pk) == "ready"


def test_it_blocks_submission_while_an_image_is_processing(world, blob_root):
    referral = make_referral(world)
    services.accept_upload(
        referral.lesions.get(),
        user=world.alice,
        fileobj=BytesIO(lesion_photo(1024, 768)),
        image_type="overview",
    )
    with pytest.raises(InvalidReferral, match="finish processing"):
        referral_services.submit_referral(referral, user=world.alice)


def test_it_refuses_uploads_from_another_practice_and_after_submission(world, blob_root):
    _referral, lesion = _draft(world)
    sent = make_referral(world, state=State.AWAITING_REVIEW)
    before = _blob_files(blob_root)
    with pytest.raises(NotPermitted):
        services.accept_upload(
            lesion, user=world.bob, fileobj=BytesIO(lesion_photo(800, 700)), image_type="overview"
        )
    with pytest.raises(TransitionNotAllowed):
        services.accept_upload(
            sent.lesions.get(),
            user=world.alice,
            fileobj=BytesIO(lesion_photo(800, 700)),
            image_type="overview",
        )
    assert _blob_files(blob_root) == before


def test_it_deletes_draft_images_but_never_those_behind_a_decision(
    world, blob_root, django_capture_on_commit_callbacks
):
    _referral, lesion = _draft(world)
    with django_capture_on_commit_callbacks(execute=True):
        image = services.accept_upload(
            lesion,
            user=world.alice,
            fileobj=BytesIO(lesion_photo(1024, 768)),
            image_type="overview",
        )
        services.process_lesion_image(image.pk)
    assert _blob_files(blob_root)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_image(LesionImage.objects.get(pk=image.pk), user=world.alice)
    assert _blob_files(blob_root) == []
    decided = make_referral(world, state=State.MORE_INFO_REQUESTED)
    frozen = LesionImage.objects.filter(lesion__referral=decided).first()
    assert frozen is not None
    LesionImage.objects.filter(pk=frozen.pk).update(informed_decision=True)
    with pytest.raises(TransitionNotAllowed, match="part of the patient's record"):
        services.delete_image(frozen, user=world.alice)


def test_it_rotates_keys_without_losing_images(world, blob_root, settings, capsys):
    """GIVEN images stored under the generated key k1
    WHEN an operator runs rotate-keys
    THEN every key record is re-wrapped with the new key and every image still decrypts."""
    settings.DATA_DIR = blob_root.parent / "data"
    settings.BLOB_KEYS = ""
    os.makedirs(settings.DATA_DIR, exist_ok=True)
    storage.blob_store.cache_clear()
    _referral, lesion = _draft(world)
    image = services.accept_upload(
        lesion, user=world.alice, fileobj=BytesIO(lesion_photo(1024, 768)), image_type="overview"
    )
    services.process_lesion_image(image.pk)
    call_command("rotate-keys")
    assert "Re-wrapped" in capsys.readouterr().out
    storage.blob_store.cache_clear()
    store = storage.blob_store()
    assert store.keyring.active_id == "k2"
    image.refresh_from_db()
    for entry in image.derivatives.values():
        assert store.get(entry["address"])
    key_files = [p for p in _blob_files(blob_root) if p.suffix == ".key"]
    assert key_files and all(b"k2" in p.read_bytes()[:12] for p in key_files)


def test_it_names_the_photo_a_repeat_is_of_as_the_photographer_knows_it(world, blob_root):
    """GIVEN a close-up of lesion 1 and a dermoscopic photo of lesion 2
    WHEN the same close-up is uploaded again for lesion 2
    THEN the duplicate check names "the close-up photo of lesion 1", not a bare number."""
    referral, first = _draft(world)
    second = make_referral_lesion(referral, world)
    photo = lesion_photo(1024, 768, seed=11, kind="close_up")
    for lesion, kind, data in (
        (first, "close_up", photo),
        (second, "dermoscopic", lesion_photo(1024, 768, seed=12, kind="dermoscopic")),
        (second, "close_up", photo),
    ):
        image = services.accept_upload(
            lesion, user=world.alice, fileobj=BytesIO(data), image_type=kind
        )
        services.process_lesion_image(image.pk)
    image.refresh_from_db()
    duplicate = image.quality["duplicate"]
    assert not duplicate["ok"]
    assert duplicate["message"].startswith("Same as the close-up photo of lesion 1:")


def make_referral_lesion(referral, world):
    from dermbridge.referrals.drafts import add_lesion
    from dermbridge.testing import DEFAULT_LESION

    return add_lesion(referral, user=world.alice, **DEFAULT_LESION)


def _hostile_uploads() -> dict[str, bytes]:
    from dermbridge.imaging.tests import corpus

    jpeg = corpus.encode(corpus.skin_photo(), "JPEG")
    png = corpus.encode(corpus.skin_photo(), "PNG")
    frames = [corpus.skin_photo(seed=s) for s in (1, 2)]
    animated = BytesIO()
    frames[0].save(animated, "PNG", save_all=True, append_images=frames[1:])
    return {
        "polyglot": corpus.gif_html_polyglot(),
        "html_with_jpeg": b"<html><img src='x'>" + jpeg + b"</html>",
        "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        "truncated": jpeg[: len(jpeg) // 2],
        "bomb_header": corpus.with_size_in_header(jpeg, 60000, 60000),
        "png_text_bomb": corpus.png_text_bomb(png),
        "animated": animated.getvalue(),
        "too_small": corpus.encode(corpus.skin_photo(320, 240), "JPEG"),
    }


@pytest.mark.parametrize("name", list(_hostile_uploads()))
def test_a_hostile_upload_through_the_storage_path_keeps_nothing(
    world, blob_root, name, django_capture_on_commit_callbacks
):
    """GIVEN a hostile file uploaded for a lesion
    THEN either it is refused at once, from its first bytes, with a reason and nothing stored (a
    web page, a drawing, an animation's container), or — stored encrypted on arrival — the
    pipeline task fails it with a reason the photographer can read; either way no blob is left
    behind (not even the upload), and the referral cannot be sent with it."""
    referral, lesion = _draft(world)
    try:
        image = services.accept_upload(
            lesion,
            user=world.alice,
            fileobj=BytesIO(_hostile_uploads()[name]),
            image_type="close_up",
        )
    except InvalidImage as exc:
        assert len(str(exc)) > 10 and exc.field_errors["file"]
        assert _blob_files(blob_root) == [] and not LesionImage.objects.exists()
        return
    assert _blob_files(blob_root)  # the encrypted upload (data and wrapped key), until the task
    with django_capture_on_commit_callbacks(execute=True):  # the upload is removed on commit
        assert services.process_lesion_image(image.pk) == "rejected"
    image.refresh_from_db()
    assert image.status == ImageStatus.FAILED and len(image.failure_reason) > 10
    assert not image.derivatives
    assert _blob_files(blob_root) == []
    assert any("could not be used" in p for p in referral_services.submission_problems(referral))


def test_trailers_and_metadata_are_cleaned_through_the_storage_path(world, blob_root):
    """A phone JPEG with GPS, serials, XMP, a comment, an EXIF thumbnail and a motion-photo video
    after the image: accepted, and no stored version holds any of it."""
    from dermbridge.imaging.tests import corpus

    _referral, lesion = _draft(world)
    data = corpus.motion_photo(corpus.hostile_jpeg())
    image = services.accept_upload(
        lesion, user=world.alice, fileobj=BytesIO(data), image_type="close_up"
    )
    assert services.process_lesion_image(image.pk) == "ready"
    image.refresh_from_db()
    store = storage.blob_store()
    for entry in image.derivatives.values():
        stored = store.get(entry["address"])
        for secret in (b"MOTION-VIDEO-SECRET", corpus.SECRET_OWNER.encode(), b"xap/1.0", b"GPS"):
            assert secret not in stored, (entry, secret)
        with Image.open(BytesIO(stored)) as decoded:
            assert not decoded.getexif() and not decoded.info.get("comment")
