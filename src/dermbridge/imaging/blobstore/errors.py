"""What the blob store raises, and how a store that is away or full is told apart."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator


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
def unavailable_as_error(operation: str) -> Iterator[None]:
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
