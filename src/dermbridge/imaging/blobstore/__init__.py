"""Encrypted, content-addressed storage for image bytes.

Every blob is encrypted with AES-256-GCM under its own random data key; the data
key is wrapped (AES-256-GCM again) by a master key from configuration and stored
beside the blob with the master key's id. Rotating master keys re-wraps the small
key records and never touches the encrypted pixels.

The address is an HMAC-SHA256 of the plaintext under a key derived from the
keyring, so identical images share a blob (deduplication) while someone holding
only the storage cannot test whether a given photo is stored.

Nothing here writes plaintext anywhere: temporary files hold ciphertext only.

Layout per object: ``aa/bb/<address>.key`` (key id, blob version, wrapped data key) and
``aa/bb/<address>.<version>.blob`` (nonce and ciphertext). A crash between the two writes,
or two workers storing one image at once, can leave a blob no key record names: ciphertext
only, never read, and safe to remove once older than any write in flight.

The package: errors.py (what it raises), keyring.py (the master keys), envelope.py (the stored
format), backends.py (the backend protocol, files on disk), s3.py (an S3 bucket), store.py
(BlobStore) and sweep.py (garbage collection). Import from the package, not its modules.
"""

from dermbridge.imaging.blobstore.backends import BlobBackend, FileSystemBackend
from dermbridge.imaging.blobstore.errors import (
    BlobCorrupt,
    BlobNotFound,
    BlobStoreError,
    BlobStoreUnavailable,
)
from dermbridge.imaging.blobstore.keyring import Keyring
from dermbridge.imaging.blobstore.s3 import S3Backend
from dermbridge.imaging.blobstore.store import BlobStore
from dermbridge.imaging.blobstore.sweep import SweepReport

__all__ = [
    "BlobBackend",
    "BlobCorrupt",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreError",
    "BlobStoreUnavailable",
    "FileSystemBackend",
    "Keyring",
    "S3Backend",
    "SweepReport",
]
