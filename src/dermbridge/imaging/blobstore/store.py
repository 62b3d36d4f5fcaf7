"""BlobStore: put, get, delete, re-key and sweep encrypted image blobs by content address.

The stored format is in envelope.py, the backends in backends.py and s3.py, the sweep in
sweep.py.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Collection

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dermbridge.imaging.blobstore.backends import BlobBackend, FileSystemBackend
from dermbridge.imaging.blobstore.envelope import (
    ADDRESS,
    VERSION,
    open_blob,
    seal_blob,
    unwrap_data_key,
    wrap_data_key,
)
from dermbridge.imaging.blobstore.errors import BlobNotFound, unavailable_as_error
from dermbridge.imaging.blobstore.keyring import Keyring
from dermbridge.imaging.blobstore.sweep import SweepReport, sweep_store


class BlobStore:
    """Put, get, delete and re-key encrypted image blobs by content address."""

    def __init__(self, backend: BlobBackend, keyring: Keyring) -> None:
        self.backend = backend
        self.keyring = keyring

    @classmethod
    def on_filesystem(cls, root: str | os.PathLike[str], keyring: Keyring) -> BlobStore:
        return cls(FileSystemBackend(root), keyring)

    def address_of(self, data: bytes) -> str:
        return hmac.new(self.keyring.address_key, data, hashlib.sha256).hexdigest()

    @staticmethod
    def _stem(address: str) -> str:
        if not ADDRESS.match(address):
            raise BlobNotFound(address)
        return f"{address[:2]}/{address[2:4]}/{address}"

    def put(self, data: bytes) -> str:
        """Store ``data`` encrypted and return its address; storing it again costs nothing.

        Each write gets its own blob version, named in the key record, so two workers
        storing the same image at once can never pair one's key record with the other's
        blob: the last key record written wins and names its own complete blob.
        """
        with unavailable_as_error("store a photo"):
            return self._put(data)

    def _put(self, data: bytes) -> str:
        address = self.address_of(data)
        stem = self._stem(address)
        if self.backend.exists(stem + ".key"):
            # Deduplicated: renew the record's date so a concurrent sweep, which spares recent
            # records, cannot remove a blob a row is about to name.
            self.backend.touch(stem + ".key")
            return address
        version = os.urandom(VERSION).hex()
        data_key = AESGCM.generate_key(bit_length=256)
        sealed = seal_blob(data_key, address, version, data)
        # The blob goes first: a key record only ever points at a complete blob.
        self.backend.write(f"{stem}.{version}.blob", sealed)
        record = self._wrap(address, version, data_key, self.keyring.active_id)
        self.backend.write(stem + ".key", record)
        return address

    def get(self, address: str) -> bytes:
        """The plaintext stored at ``address``; raises BlobNotFound, BlobCorrupt, or
        BlobStoreUnavailable when the store cannot be reached."""
        with unavailable_as_error("read a photo"):
            return self._get(address)

    def _get(self, address: str) -> bytes:
        stem = self._stem(address)
        _, version, data_key = self._unwrap(address, self.backend.read(stem + ".key"))
        blob = self.backend.read(f"{stem}.{version}.blob")
        data = open_blob(data_key, address, version, blob)
        # No HMAC re-check: the GCM tag already binds the bytes to this address (AAD), and the
        # address key may have changed since the blob was stored.
        return data

    def exists(self, address: str) -> bool:
        try:
            stem = self._stem(address)
        except BlobNotFound:
            return False
        with unavailable_as_error("look up a photo"):
            return self.backend.exists(stem + ".key")

    def delete(self, address: str) -> None:
        """Remove a blob; the key record goes first so a half-done delete reads as absent."""
        with unavailable_as_error("delete a photo"):
            self._delete(address)

    def _delete(self, address: str) -> None:
        stem = self._stem(address)
        try:
            _, version, _ = self._unwrap(address, self.backend.read(stem + ".key"))
        except BlobNotFound:
            return
        self.backend.delete(stem + ".key")
        self.backend.delete(f"{stem}.{version}.blob")

    def rotate_keys(self, new_key_id: str) -> int:
        """Re-wrap every data key not already under ``new_key_id``; returns how many changed.

        Only the small key records are rewritten (atomically); the encrypted pixels are not
        read. Safe to run twice, and to resume after an interruption.
        """
        self.keyring.key(new_key_id)
        changed = 0
        for key_name in list(self.backend.names(".key")):
            address = key_name.rsplit("/", 1)[-1].removesuffix(".key")
            key_id, version, data_key = self._unwrap(address, self.backend.read(key_name))
            if key_id == new_key_id:
                continue
            self.backend.write(key_name, self._wrap(address, version, data_key, new_key_id))
            changed += 1
        return changed

    def sweep(
        self,
        referenced: Callable[[], Collection[str]],
        *,
        grace_seconds: float,
        dry_run: bool = False,
        delete_if_unreferenced: Callable[[str], bool] | None = None,
    ) -> SweepReport:
        """Remove what nothing refers to and is older than ``grace_seconds``.

        Three kinds of leftovers: blobs whose address no database row names (an upload whose
        transaction rolled back, a delete that failed), blob files no key record names (a crash
        between the two writes of ``put``, or the loser of two concurrent puts), and temporary
        files of interrupted writes.

        ``referenced`` is asked for the addresses in use only after the listing, so a row that
        commits during the listing is seen. The grace period protects writes still in flight (an
        upload's blob is written before its row commits), and ``put`` renews the date of a
        record it deduplicates against; each record's date is read again just before it goes.
        ``delete_if_unreferenced`` (imaging.blobrefs.release) deletes an address only after
        checking again, under the address's lock, that no row names it: a deduplicating upload
        in flight holds that lock, so it cannot lose its blob to the sweep.
        """
        return sweep_store(
            self,
            referenced,
            grace_seconds=grace_seconds,
            dry_run=dry_run,
            delete_if_unreferenced=delete_if_unreferenced,
        )

    def _wrap(self, address: str, version: str, data_key: bytes, key_id: str) -> bytes:
        return wrap_data_key(self.keyring, address, version, data_key, key_id)

    def _unwrap(self, address: str, record: bytes) -> tuple[str, str, bytes]:
        """Key id, blob version and data key from a key record, authenticated."""
        return unwrap_data_key(self.keyring, address, record)
