"""The encrypted blob store: images at rest are unreadable without the keyring, and keys rotate."""

from __future__ import annotations

import base64
import io
import os
import tempfile
from pathlib import Path

import pytest

from dermbridge.imaging.blobstore import (
    BlobCorrupt,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    Keyring,
    S3Backend,
)
from dermbridge.imaging.pipeline import process_image

from . import corpus

K1, K2 = os.urandom(32), os.urandom(32)

# Signatures of every accepted format. Ciphertext is random, so a bare 3-byte JPEG marker turns
# up by chance about once per 16 MB: at any offset we look for the longer forms encoders write,
# and at the start of a file for the short ones.
IMAGE_SIGNATURES = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF",
    b"\xff\xd8\xff\xe1",
    b"\xff\xd8\xff\xdb\x00",
    b"\x89PNG\r\n\x1a\n",
    b"ftypheic",
    b"ftypmif1",
)
FILE_STARTS = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF")


def keyring(active: str = "k1") -> Keyring:
    return Keyring({"k1": K1, "k2": K2}, active=active)


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore.on_filesystem(tmp_path / "blobs", keyring())


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def contains_image_signature(data: bytes) -> bool:
    if data.startswith(FILE_STARTS) or any(sig in data for sig in IMAGE_SIGNATURES):
        return True
    start = data.find(b"RIFF")
    while start != -1:
        if data[start + 8 : start + 12] == b"WEBP":
            return True
        start = data.find(b"RIFF", start + 1)
    return False


def test_it_round_trips_and_deduplicates(store: BlobStore) -> None:
    """GIVEN a photo stored twice THEN one address, one blob, and the same bytes back."""
    data = corpus.encode(corpus.skin_photo(), "JPEG")
    address = store.put(data)
    assert store.put(data) == address
    assert store.get(address) == data
    assert store.exists(address)
    assert len([p for p in files_under(store.backend.root) if p.suffix == ".blob"]) == 1  # type: ignore[attr-defined]


def test_the_address_does_not_reveal_the_content_without_the_keys(tmp_path: Path) -> None:
    """GIVEN the same photo in two deployments THEN different addresses, neither its sha256."""
    import hashlib

    data = b"the same plaintext"
    ours = BlobStore.on_filesystem(tmp_path / "a", keyring())
    theirs = BlobStore.on_filesystem(tmp_path / "b", Keyring({"x": os.urandom(32)}, "x"))
    assert ours.put(data) != theirs.put(data)
    assert ours.address_of(data) != hashlib.sha256(data).hexdigest()


def test_it_never_writes_an_image_unencrypted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN photos in every accepted format processed and stored THEN no image signature on disk.

    The blob root and the temporary directory are both scanned, so a plaintext temp file
    (from the pipeline, an encoder or the store) would be caught.
    """
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    store = BlobStore.on_filesystem(tmp_path / "blobs", keyring())
    plaintexts: list[bytes] = []
    for fmt in ("JPEG", "PNG", "HEIF", "WEBP"):
        upload = corpus.encode(corpus.skin_photo(seed=len(fmt)), fmt)
        plaintexts.append(upload)
        result = process_image(io.BytesIO(upload), declared_type="close_up")
        plaintexts += [d.data for d in result.derivatives.values()]
    for data in plaintexts:
        store.put(data)
    scanned = files_under(tmp_path / "blobs") + files_under(temp)
    assert len(scanned) >= 2 * 4 * 5  # a blob and a key record per stored object
    on_disk = [p.read_bytes() for p in scanned]
    leaking = [
        p.name for p, data in zip(scanned, on_disk, strict=True) if contains_image_signature(data)
    ]
    assert leaking == []
    # Stronger than signatures: no 48-byte run of any image's bytes appears anywhere on disk.
    samples = [
        d[i : i + 48] for d in plaintexts for i in (0, len(d) // 3, len(d) // 2, len(d) - 60)
    ]
    assert not [s for s in samples if any(s in data for data in on_disk)]


def test_rotation_rewraps_keys_without_touching_pixels(tmp_path: Path) -> None:
    """GIVEN blobs under k1 WHEN rotated to k2 THEN key records change, ciphertext does not,
    and the blobs read back with k1 removed from the keyring."""
    root = tmp_path / "blobs"
    store = BlobStore.on_filesystem(root, keyring("k1"))
    addresses = [store.put(f"image {i}".encode()) for i in range(3)]
    blobs_before = {p: p.read_bytes() for p in files_under(root) if p.suffix == ".blob"}
    keys_before = {p: p.read_bytes() for p in files_under(root) if p.suffix == ".key"}

    assert store.rotate_keys("k2") == 3
    assert store.rotate_keys("k2") == 0  # already done: safe to run twice

    assert {p: p.read_bytes() for p in blobs_before} == blobs_before
    assert all(p.read_bytes() != before for p, before in keys_before.items())
    only_k2 = BlobStore.on_filesystem(root, Keyring({"k2": K2}, "k2"))
    assert [only_k2.get(a) for a in addresses] == [f"image {i}".encode() for i in range(3)]
    assert not [p for p in files_under(root) if p.name.startswith(".tmp-")]


def test_it_refuses_tampered_blobs_and_unknown_addresses(store: BlobStore) -> None:
    """GIVEN a blob altered on disk THEN BlobCorrupt; GIVEN a missing address THEN BlobNotFound."""
    address = store.put(b"pixels")
    blob = next(p for p in files_under(store.backend.root) if p.suffix == ".blob")  # type: ignore[attr-defined]
    damaged = bytearray(blob.read_bytes())
    damaged[-1] ^= 0x01
    blob.write_bytes(bytes(damaged))
    with pytest.raises(BlobCorrupt):
        store.get(address)
    with pytest.raises(BlobNotFound):
        store.get("0" * 64)
    with pytest.raises(BlobNotFound):
        store.get("../../etc/passwd")
    assert not store.exists("../../etc/passwd")


def test_a_blob_key_record_cannot_be_moved_to_another_address(store: BlobStore) -> None:
    """GIVEN an attacker copying one blob's files over another's THEN reading fails."""
    first, second = store.put(b"first image"), store.put(b"second image")
    root = store.backend.root  # type: ignore[attr-defined]
    for pattern in ("{}.*.blob", "{}.key"):
        source = next(root.rglob(pattern.format(first)))
        next(root.rglob(pattern.format(second))).write_bytes(source.read_bytes())
    with pytest.raises(BlobCorrupt):
        store.get(second)


def test_delete_removes_the_blob(store: BlobStore) -> None:
    address = store.put(b"to be deleted")
    store.delete(address)
    assert not store.exists(address)
    assert files_under(store.backend.root) == []  # type: ignore[attr-defined]
    store.delete(address)  # deleting twice is harmless


def test_keyring_configuration_errors_name_the_setting() -> None:
    """GIVEN bad DERMBRIDGE_BLOB_KEYS values THEN errors that say what to fix."""
    good = base64.b64encode(K1).decode()
    ring = Keyring.from_config(f"k1:{good}, k2:{base64.b64encode(K2).decode()}", "k2")
    assert ring.active_id == "k2" and "k1" in ring and K1.hex() not in repr(ring)
    with pytest.raises(BlobStoreError, match="DERMBRIDGE_BLOB_KEYS"):
        Keyring.from_config(f"k1{good}")
    with pytest.raises(BlobStoreError, match="not valid base64"):
        Keyring.from_config("k1:not-base64!")
    with pytest.raises(BlobStoreError, match="exactly 32"):
        Keyring.from_config(f"k1:{base64.b64encode(b'short').decode()}")
    with pytest.raises(BlobStoreError, match="DERMBRIDGE_BLOB_ACTIVE_KEY"):
        Keyring.from_config(f"k1:{good}", "k9")
    with pytest.raises(BlobStoreError, match="empty"):
        Keyring.from_config("")


def test_the_s3_backend_against_a_local_s3_server(tmp_path: Path) -> None:
    """GIVEN a local S3-compatible server (moto) THEN the same round trip and rotation work."""
    moto_server = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed: no local S3-compatible server"
    )
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="dermbridge")
        store = BlobStore(S3Backend("dermbridge", prefix="blobs", client=client), keyring())
        address = store.put(b"s3 pixels")
        assert store.get(address) == b"s3 pixels" and store.exists(address)
        assert store.rotate_keys("k2") == 1
        # Listing, dates and touch, which the garbage-collection sweep relies on.
        names = dict(store.backend.listing())
        assert sorted(n.rsplit(".", 1)[-1] for n in names) == ["blob", "key"]
        key_name = next(n for n in names if n.endswith(".key"))
        assert store.backend.modified(key_name) == pytest.approx(names[key_name], abs=1)
        assert store.backend.modified("no/such.key") is None
        store.backend.touch(key_name)
        assert store.get(address) == b"s3 pixels"
        kept = store.sweep(lambda: {address}, grace_seconds=0)
        assert kept.removed == 0 and store.exists(address)
        gone = store.sweep(set, grace_seconds=-60)  # "older than a minute in the future"
        assert gone.unreferenced == [address] and not store.exists(address)
        assert list(store.backend.listing()) == []
    finally:
        server.stop()


def test_two_workers_storing_the_same_image_at_once_leave_it_readable(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN two puts of one image that both miss the 'already stored' check (a race)
    THEN the last key record names its own blob and the image reads back."""
    real_exists = store.backend.exists
    monkeypatch.setattr(store.backend, "exists", lambda name: False)
    first = store.put(b"same image")
    second = store.put(b"same image")
    monkeypatch.setattr(store.backend, "exists", real_exists)
    assert first == second
    assert store.get(first) == b"same image"
    root = store.backend.root  # type: ignore[attr-defined]
    assert len(list(root.rglob("*.key"))) == 1 and len(list(root.rglob("*.blob"))) == 2
