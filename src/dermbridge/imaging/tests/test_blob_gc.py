"""Garbage collection of encrypted blobs: what no row names goes, what is in use or recent stays."""

from __future__ import annotations

import os
import time
from io import BytesIO, StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from dermbridge.audit.models import AuditEvent
from dermbridge.core.errors import InvalidImage
from dermbridge.imaging import services, storage
from dermbridge.imaging.blobstore import BlobStore, Keyring
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.testing import World, make_referral

DAY = 24 * 3600


def _age(root: Path, pattern: str, seconds: float) -> None:
    """Make every file matching ``pattern`` look ``seconds`` old."""
    when = time.time() - seconds
    for path in root.rglob(pattern):
        os.utime(path, (when, when))


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore.on_filesystem(tmp_path / "blobs", Keyring({"k1": os.urandom(32)}, active="k1"))


def test_the_sweep_removes_only_old_unreferenced_leftovers(store: BlobStore) -> None:
    """GIVEN a blob in use, an old orphan, a fresh orphan, a stray blob file of a lost write and
    an interrupted temporary file WHEN the store is swept with a one-day grace period
    THEN the old orphan, the stray file and the temporary file go, and the rest is untouched."""
    root: Path = store.backend.root  # type: ignore[attr-defined]
    in_use = store.put(b"pixels in use")
    old_orphan = store.put(b"old orphan")
    # A write that lost a race: a second blob version of the in-use image, never named by a key.
    stem = f"{in_use[:2]}/{in_use[2:4]}/{in_use}"
    (root / f"{stem}.0000000000000000.blob").write_bytes(b"DBB1 ciphertext of a lost write")
    (root / f"{stem[:5]}/.tmp-abc.part").write_bytes(b"half a write")
    _age(root, "*", 2 * DAY)
    fresh_orphan = store.put(b"fresh orphan")  # e.g. an upload whose row has not committed yet

    dry = store.sweep(lambda: {in_use}, grace_seconds=DAY, dry_run=True)
    assert dry.unreferenced == [old_orphan] and len(dry.stray_blobs) == 1
    assert len(dry.temporary) == 1 and dry.kept_recent == 1
    before = _files(root)
    assert len(before) == 8  # 3 keys, 4 blob files, 1 temporary file: the dry run changed nothing

    report = store.sweep(lambda: {in_use}, grace_seconds=DAY)
    assert report.unreferenced == [old_orphan]
    assert report.stray_blobs == [f"{stem}.0000000000000000.blob"]
    assert report.removed == 3
    assert store.get(in_use) == b"pixels in use"
    assert store.get(fresh_orphan) == b"fresh orphan"
    assert not store.exists(old_orphan)
    assert len(_files(root)) == 4  # two keys and their two blobs


def test_a_blob_deduplicated_against_is_renewed_and_survives(store: BlobStore) -> None:
    """GIVEN an old orphan blob WHEN the same image is uploaded again (put finds it stored)
    THEN its date is renewed, so a sweep before the new row commits leaves it alone."""
    root: Path = store.backend.root  # type: ignore[attr-defined]
    address = store.put(b"the same photo twice")
    _age(root, "*", 2 * DAY)
    assert store.put(b"the same photo twice") == address
    report = store.sweep(set, grace_seconds=DAY)
    assert report.unreferenced == [] and report.kept_recent == 1
    assert store.get(address) == b"the same photo twice"


def test_the_references_are_read_after_the_listing(store: BlobStore) -> None:
    """A row that commits while the store is being listed is seen: the sweep asks for the
    addresses in use only once it has listed what is stored."""
    root: Path = store.backend.root  # type: ignore[attr-defined]
    address = store.put(b"committed during the listing")
    _age(root, "*", 2 * DAY)
    asked: list[bool] = []

    def referenced() -> set[str]:
        asked.append(True)
        return {address}

    listing = store.backend.listing

    def slow_listing():  # type: ignore[no-untyped-def]
        yield from listing()
        assert not asked, "references were read before the listing finished"

    store.backend.listing = slow_listing  # type: ignore[method-assign]
    assert store.sweep(referenced, grace_seconds=DAY).removed == 0
    assert asked == [True] and store.exists(address)


@pytest.fixture
def blob_root(tmp_path: Path, settings):  # type: ignore[no-untyped-def]
    settings.BLOB_ROOT = tmp_path / "blobs"
    storage.blob_store.cache_clear()
    yield settings.BLOB_ROOT
    storage.blob_store.cache_clear()


def test_the_command_collects_a_rolled_back_upload_and_keeps_every_image(
    world: World, blob_root: Path
) -> None:
    """GIVEN a referral with processed images, and a batch upload refused because one file was
    empty (its good photo's blob was written, the rows rolled back)
    WHEN `dermbridge blobs-gc` runs a day later
    THEN the rolled-back photo's blob goes, every image still reads back, and it is audited."""
    referral = make_referral(world)  # images attached and ready
    lesion = referral.lesions.get()
    with pytest.raises(InvalidImage):
        services.accept_uploads(
            lesion,
            user=world.alice,
            image_type="overview",
            files=[BytesIO(lesion_photo(700, 700, seed=41, kind="overview")), BytesIO(b"")],
        )
    in_use = services.referenced_blob_addresses()
    stored = {p.name.removesuffix(".key") for p in blob_root.rglob("*.key")}
    orphans = stored - in_use
    assert len(orphans) == 1 and in_use <= stored
    _age(blob_root, "*", 2 * DAY)

    out = StringIO()
    call_command("blobs-gc", "--dry-run", stdout=out)
    assert out.getvalue().startswith("Would remove 1 unreferenced blobs")
    assert {p.name.removesuffix(".key") for p in blob_root.rglob("*.key")} == stored

    out = StringIO()
    call_command("blobs-gc", stdout=out)
    assert out.getvalue().startswith("Removed 1 unreferenced blobs, 0 stray blob files")
    remaining = {p.name.removesuffix(".key") for p in blob_root.rglob("*.key")}
    assert remaining == in_use
    store = storage.blob_store()
    for image in lesion.images.all():
        for name in image.derivatives:
            assert store.get(image.derivative_address(name) or "")
    event = AuditEvent.objects.get(action="blobs.sweep")
    assert event.detail["unreferenced"] == 1 and event.detail["grace_hours"] == 24


def test_the_command_refuses_a_grace_period_shorter_than_an_hour(blob_root: Path) -> None:
    with pytest.raises(CommandError, match="at least 1"):
        call_command("blobs-gc", "--grace-hours", "0.1")
