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
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import hmac
import os
import re
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_BLOB_MAGIC = b"DBB1"
_KEY_MAGIC = b"DBK2"  # DBK1 (no blob version) came before the first release
_NONCE = 12
_VERSION = 8  # random bytes naming one write of a blob
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_ADDRESS = re.compile(r"^[0-9a-f]{64}$")


class BlobStoreError(Exception):
    """The blob store cannot do what was asked; the message says why and what to check."""


class BlobNotFound(BlobStoreError, KeyError):
    """No blob is stored at that address."""


class BlobCorrupt(BlobStoreError):
    """A stored blob or key record fails authentication: tampered with, damaged or wrong key."""


class BlobStoreUnavailable(BlobStoreError):
    """The store cannot be reached or written now (disk full, I/O error, object store down or
    timing out): a temporary condition; the same call may succeed later."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


_S3_UNAVAILABLE = {
    "EndpointConnectionError",
    "ConnectionClosedError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionError",
    "ProxyConnectionError",
}


@contextlib.contextmanager
def _unavailable_as_error(operation: str) -> Iterator[None]:
    """Name a store that is away or full as BlobStoreUnavailable; let other errors through."""
    try:
        yield
    except BlobStoreError:
        raise
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        what = (
            "the blob store's disk is full" if full else f"the blob store failed ({exc.strerror})"
        )
        raise BlobStoreUnavailable(f"Could not {operation}: {what}.", disk_full=full) from exc
    except Exception as exc:
        name = type(exc).__name__
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if (
            name in _S3_UNAVAILABLE
            or (isinstance(status, int) and status >= 500)
            or code
            in (
                "SlowDown",
                "ServiceUnavailable",
                "InternalError",
            )
        ):
            raise BlobStoreUnavailable(
                f"Could not {operation}: the object store is unavailable ({name})."
            ) from exc
        raise


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


class BlobBackend(Protocol):
    """Where the ciphertext lives: named byte objects, written atomically."""

    def read(self, name: str) -> bytes: ...
    def write(self, name: str, data: bytes) -> None: ...
    def delete(self, name: str) -> None: ...
    def exists(self, name: str) -> bool: ...
    def names(self, suffix: str) -> Iterator[str]: ...
    def listing(self) -> Iterator[tuple[str, float]]:
        """Every stored name (temporary files included) with its modification time (epoch s)."""
        ...

    def modified(self, name: str) -> float | None:
        """Modification time (epoch s), or None when absent."""
        ...

    def touch(self, name: str) -> None:
        """Set the modification time to now (marks a deduplicated blob as just used)."""
        ...


class FileSystemBackend:
    """Blobs as files under one root; writes go to a temp file in the same folder, then rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(name) from None

    def write(self, name: str, data: bytes) -> None:
        target = self._path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        # The rename is durable only once the directory entry is on disk.
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def names(self, suffix: str) -> Iterator[str]:
        for path in self.root.rglob(f"*{suffix}"):
            if not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def modified(self, name: str) -> float | None:
        try:
            return self._path(name).stat().st_mtime
        except FileNotFoundError:
            return None

    def touch(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._path(name))

    def listing(self) -> Iterator[tuple[str, float]]:
        for path in self.root.rglob("*"):
            with contextlib.suppress(FileNotFoundError):  # removed while listing
                if path.is_file():
                    yield path.relative_to(self.root).as_posix(), path.stat().st_mtime


class S3Backend:
    """Blobs as objects in an S3-compatible bucket (boto3, an optional dependency)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, **client_kwargs: Any):
        if client is None:
            try:
                import boto3  # type: ignore[import-not-found]
            except ImportError as exc:
                raise BlobStoreError(
                    "The S3 blob backend needs boto3: pip install 'dermbridge[s3]'."
                ) from exc
            client = boto3.client("s3", **client_kwargs)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def read(self, name: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound(name) from None
        return bytes(response["Body"].read())

    def write(self, name: str, data: bytes) -> None:
        # A single PUT is atomic in S3: readers see the old object or the new one.
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def exists(self, name: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
        except Exception as exc:  # botocore ClientError; boto3 is optional
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def names(self, suffix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                if key.endswith(suffix):
                    yield key

    def modified(self, name: str) -> float | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
        except Exception as exc:  # botocore ClientError; boto3 is optional
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return float(head["LastModified"].timestamp())

    def touch(self, name: str) -> None:
        # S3 has no touch: copying an object onto itself with new metadata renews its date.
        key = self.prefix + name
        self.client.copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": key},
            MetadataDirective="REPLACE",
        )

    def listing(self) -> Iterator[tuple[str, float]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :], item["LastModified"].timestamp()


@dataclass
class SweepReport:
    """What a garbage-collection sweep removed (or, in a dry run, would remove)."""

    unreferenced: list[str] = field(default_factory=list)  # addresses no row names
    stray_blobs: list[str] = field(default_factory=list)  # blob files no key record names
    temporary: list[str] = field(default_factory=list)  # interrupted writes
    kept_recent: int = 0  # unreferenced, but younger than the grace period
    unreadable_keys: list[str] = field(default_factory=list)  # left alone, reported

    @property
    def removed(self) -> int:
        return len(self.unreferenced) + len(self.stray_blobs) + len(self.temporary)


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
        if not _ADDRESS.match(address):
            raise BlobNotFound(address)
        return f"{address[:2]}/{address[2:4]}/{address}"

    def put(self, data: bytes) -> str:
        """Store ``data`` encrypted and return its address; storing it again costs nothing.

        Each write gets its own blob version, named in the key record, so two workers
        storing the same image at once can never pair one's key record with the other's
        blob: the last key record written wins and names its own complete blob.
        """
        with _unavailable_as_error("store a photo"):
            return self._put(data)

    def _put(self, data: bytes) -> str:
        address = self.address_of(data)
        stem = self._stem(address)
        if self.backend.exists(stem + ".key"):
            # Deduplicated: renew the record's date so a concurrent sweep, which spares recent
            # records, cannot remove a blob a row is about to name.
            self.backend.touch(stem + ".key")
            return address
        version = os.urandom(_VERSION).hex()
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(data_key).encrypt(nonce, data, _blob_aad(address, version))
        # The blob goes first: a key record only ever points at a complete blob.
        self.backend.write(f"{stem}.{version}.blob", _BLOB_MAGIC + nonce + sealed)
        record = self._wrap(address, version, data_key, self.keyring.active_id)
        self.backend.write(stem + ".key", record)
        return address

    def get(self, address: str) -> bytes:
        """The plaintext stored at ``address``; raises BlobNotFound, BlobCorrupt, or
        BlobStoreUnavailable when the store cannot be reached."""
        with _unavailable_as_error("read a photo"):
            return self._get(address)

    def _get(self, address: str) -> bytes:
        stem = self._stem(address)
        _, version, data_key = self._unwrap(address, self.backend.read(stem + ".key"))
        blob = self.backend.read(f"{stem}.{version}.blob")
        if not blob.startswith(_BLOB_MAGIC) or len(blob) < 4 + _NONCE + 16:
            raise BlobCorrupt(f"Blob {address[:12]}... is not a DermBridge blob.")
        nonce, sealed = blob[4 : 4 + _NONCE], blob[4 + _NONCE :]
        try:
            data = AESGCM(data_key).decrypt(nonce, sealed, _blob_aad(address, version))
        except InvalidTag:
            raise BlobCorrupt(f"Blob {address[:12]}... fails authentication (damaged).") from None
        # No HMAC re-check: the GCM tag already binds the bytes to this address (AAD), and the
        # address key may have changed since the blob was stored.
        return data

    def exists(self, address: str) -> bool:
        try:
            stem = self._stem(address)
        except BlobNotFound:
            return False
        with _unavailable_as_error("look up a photo"):
            return self.backend.exists(stem + ".key")

    def delete(self, address: str) -> None:
        """Remove a blob; the key record goes first so a half-done delete reads as absent."""
        with _unavailable_as_error("delete a photo"):
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
        report = SweepReport()
        cutoff = time.time() - grace_seconds
        keys: dict[str, tuple[str, float]] = {}  # address -> (stored name, mtime)
        blobs: list[tuple[str, str, str, float]] = []  # (name, address, version, mtime)
        for name, mtime in self.backend.listing():
            base = name.rsplit("/", 1)[-1]
            if base.startswith(".tmp-"):
                if mtime < cutoff:
                    report.temporary.append(name)
            elif base.endswith(".key") and _ADDRESS.match(base[:-4]):
                keys[base[:-4]] = (name, mtime)
            elif base.endswith(".blob") and base.count(".") == 2:
                address, version, _ = base.split(".")
                blobs.append((name, address, version, mtime))
        in_use = set(referenced())
        live_versions: dict[str, str] = {}
        for address, (name, mtime) in sorted(keys.items()):
            if address not in in_use:
                if mtime < cutoff:
                    report.unreferenced.append(address)
                    continue
                report.kept_recent += 1
            try:
                _, version, _ = self._unwrap(address, self.backend.read(name))
            except BlobStoreError:
                report.unreadable_keys.append(address)
                version = "*"  # keep every blob file of this address
            live_versions[address] = version
        doomed = set(report.unreferenced)
        for name, address, version, mtime in blobs:
            if address in doomed or mtime >= cutoff:
                continue  # an unreferenced address's blob goes with its key record below
            if live_versions.get(address) not in (version, "*"):
                report.stray_blobs.append(name)
        if dry_run:
            return report
        removed = []
        for address in report.unreferenced:
            name = keys[address][0]
            renewed = self.backend.modified(name)
            if renewed is not None and renewed >= cutoff:
                report.kept_recent += 1  # deduplicated against since the listing
                continue
            if delete_if_unreferenced is not None:
                if not delete_if_unreferenced(address):
                    report.kept_recent += 1  # named by a row since the listing
                    continue
            else:
                self.backend.delete(name)  # the key record first: a half-done sweep reads as absent
            for blob_name, blob_address, _, _ in blobs:
                if blob_address == address:
                    self.backend.delete(blob_name)
            removed.append(address)
        report.unreferenced = removed
        for name in report.stray_blobs + report.temporary:
            self.backend.delete(name)
        return report

    def _wrap(self, address: str, version: str, data_key: bytes, key_id: str) -> bytes:
        nonce = os.urandom(_NONCE)
        wrapped = AESGCM(self.keyring.key(key_id)).encrypt(
            nonce, data_key, _key_aad(address, version, key_id)
        )
        encoded_id = key_id.encode("ascii")
        header = _KEY_MAGIC + bytes([len(encoded_id)]) + encoded_id + bytes.fromhex(version)
        return header + nonce + wrapped

    def _unwrap(self, address: str, record: bytes) -> tuple[str, str, bytes]:
        """Key id, blob version and data key from a key record, authenticated."""
        if record.startswith(b"DBK1"):
            raise BlobCorrupt(
                f"Key record for {address[:12]}... is from a pre-release blob format: "
                "delete the development blob store (DERMBRIDGE_DATA_DIR) and reload the demo."
            )
        if not record.startswith(_KEY_MAGIC) or len(record) < 6:
            raise BlobCorrupt(f"Key record for {address[:12]}... is not a DermBridge key record.")
        id_end = 5 + record[4]
        key_id = record[5:id_end].decode("ascii", "replace")
        version = record[id_end : id_end + _VERSION].hex()
        nonce = record[id_end + _VERSION : id_end + _VERSION + _NONCE]
        wrapped = record[id_end + _VERSION + _NONCE :]
        try:
            data_key = AESGCM(self.keyring.key(key_id)).decrypt(
                nonce, wrapped, _key_aad(address, version, key_id)
            )
        except InvalidTag:
            raise BlobCorrupt(
                f"Key record for {address[:12]}... fails authentication: wrong key "
                f"{key_id!r} in the keyring, or the record was altered."
            ) from None
        return key_id, version, data_key


def _blob_aad(address: str, version: str) -> bytes:
    return f"dermbridge-blob-v1:{address}:{version}".encode("ascii")


def _key_aad(address: str, version: str, key_id: str) -> bytes:
    return f"dermbridge-key-v1:{address}:{version}:{key_id}".encode("ascii")
