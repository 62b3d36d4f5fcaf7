"""The stored format: the encrypted blob, and the key record that wraps its data key.

A blob is ``DBB1``, a nonce and the AES-256-GCM ciphertext of the image under its own data
key; the associated data binds it to its address and blob version. A key record is ``DBK2``,
the wrapping master key's id, the blob version, a nonce and the data key wrapped (AES-256-GCM)
by that master key, bound to the address, version and key id.
"""

from __future__ import annotations

import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dermbridge.imaging.blobstore.errors import BlobCorrupt
from dermbridge.imaging.blobstore.keyring import Keyring

BLOB_MAGIC = b"DBB1"
KEY_MAGIC = b"DBK2"  # DBK1 (no blob version) came before the first release
NONCE = 12
VERSION = 8  # random bytes naming one write of a blob
ADDRESS = re.compile(r"^[0-9a-f]{64}$")


def seal_blob(data_key: bytes, address: str, version: str, data: bytes) -> bytes:
    """The stored bytes of one blob: ``data`` encrypted under ``data_key``."""
    nonce = os.urandom(NONCE)
    sealed = AESGCM(data_key).encrypt(nonce, data, blob_aad(address, version))
    return BLOB_MAGIC + nonce + sealed


def open_blob(data_key: bytes, address: str, version: str, blob: bytes) -> bytes:
    """The plaintext of a stored blob, authenticated; raises BlobCorrupt."""
    if not blob.startswith(BLOB_MAGIC) or len(blob) < 4 + NONCE + 16:
        raise BlobCorrupt(f"Blob {address[:12]}... is not a DermBridge blob.")
    nonce, sealed = blob[4 : 4 + NONCE], blob[4 + NONCE :]
    try:
        return AESGCM(data_key).decrypt(nonce, sealed, blob_aad(address, version))
    except InvalidTag:
        raise BlobCorrupt(f"Blob {address[:12]}... fails authentication (damaged).") from None


def wrap_data_key(
    keyring: Keyring, address: str, version: str, data_key: bytes, key_id: str
) -> bytes:
    """A key record: ``data_key`` wrapped by the master key ``key_id``."""
    nonce = os.urandom(NONCE)
    wrapped = AESGCM(keyring.key(key_id)).encrypt(
        nonce, data_key, key_aad(address, version, key_id)
    )
    encoded_id = key_id.encode("ascii")
    header = KEY_MAGIC + bytes([len(encoded_id)]) + encoded_id + bytes.fromhex(version)
    return header + nonce + wrapped


def unwrap_data_key(keyring: Keyring, address: str, record: bytes) -> tuple[str, str, bytes]:
    """Key id, blob version and data key from a key record, authenticated."""
    if record.startswith(b"DBK1"):
        raise BlobCorrupt(
            f"Key record for {address[:12]}... is from a pre-release blob format: "
            "delete the development blob store (DERMBRIDGE_DATA_DIR) and reload the demo."
        )
    if not record.startswith(KEY_MAGIC) or len(record) < 6:
        raise BlobCorrupt(f"Key record for {address[:12]}... is not a DermBridge key record.")
    id_end = 5 + record[4]
    key_id = record[5:id_end].decode("ascii", "replace")
    version = record[id_end : id_end + VERSION].hex()
    nonce = record[id_end + VERSION : id_end + VERSION + NONCE]
    wrapped = record[id_end + VERSION + NONCE :]
    try:
        data_key = AESGCM(keyring.key(key_id)).decrypt(
            nonce, wrapped, key_aad(address, version, key_id)
        )
    except InvalidTag:
        raise BlobCorrupt(
            f"Key record for {address[:12]}... fails authentication: wrong key "
            f"{key_id!r} in the keyring, or the record was altered."
        ) from None
    return key_id, version, data_key


def blob_aad(address: str, version: str) -> bytes:
    return f"dermbridge-blob-v1:{address}:{version}".encode("ascii")


def key_aad(address: str, version: str, key_id: str) -> bytes:
    return f"dermbridge-key-v1:{address}:{version}:{key_id}".encode("ascii")
