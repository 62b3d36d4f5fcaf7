"""The master keys that wrap data keys (DERMBRIDGE_BLOB_KEYS), and the address key derived
from them."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dermbridge.imaging.blobstore.errors import BlobStoreError

_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class Keyring:
    """The master keys that wrap data keys, by id, and which one wraps new blobs."""

    def __init__(
        self, keys: Mapping[str, bytes], active: str, address_key_id: str | None = None
    ) -> None:
        if not keys:
            raise BlobStoreError("The blob keyring is empty: set DERMBRIDGE_BLOB_KEYS.")
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id):
                raise BlobStoreError(
                    f"Blob key id {key_id!r} is invalid: use 1-32 letters, digits, '.', '_' or '-'."
                )
            if len(key) != 32:
                raise BlobStoreError(
                    f"Blob key {key_id!r} is {len(key)} bytes; AES-256 needs exactly 32 "
                    "(generate one with: python -c 'import os,base64;"
                    "print(base64.b64encode(os.urandom(32)).decode())')."
                )
        if active not in keys:
            raise BlobStoreError(
                f"DERMBRIDGE_BLOB_ACTIVE_KEY={active!r} is not in DERMBRIDGE_BLOB_KEYS "
                f"(ids there: {', '.join(keys)})."
            )
        self._keys = dict(keys)
        self.active_id = active
        # The address key must outlive rotations, so it comes from the oldest key unless named:
        # retiring that key changes new addresses (losing deduplication), never old ones.
        self.address_key_id = address_key_id or next(iter(keys))
        if self.address_key_id not in keys:
            raise BlobStoreError(f"Address key id {self.address_key_id!r} is not in the keyring.")
        self.address_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"dermbridge-blob-address-v1"
        ).derive(self._keys[self.address_key_id])

    @classmethod
    def from_config(cls, keys_spec: str, active: str | None = None) -> Keyring:
        """Parse ``"k1:<base64 32 bytes>,k2:<base64>"`` (DERMBRIDGE_BLOB_KEYS)."""
        keys: dict[str, bytes] = {}
        for item in filter(None, (part.strip() for part in keys_spec.split(","))):
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise BlobStoreError(
                    "DERMBRIDGE_BLOB_KEYS must look like 'k1:<base64 key>,k2:<base64 key>'; "
                    f"an entry has no ':' after the id {key_id[:8]!r}."
                )
            try:
                keys[key_id.strip()] = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BlobStoreError(
                    f"DERMBRIDGE_BLOB_KEYS: the key for {key_id!r} is not valid base64."
                ) from exc
        return cls(keys, active or (list(keys)[-1] if keys else ""))

    def key(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise BlobStoreError(
                f"A blob is wrapped with key {key_id!r}, which is not in DERMBRIDGE_BLOB_KEYS: "
                "add it back, or rotate blobs to a current key first."
            ) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(ids={list(self._keys)}, active={self.active_id!r})"
