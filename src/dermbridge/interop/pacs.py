"""Thin clients that hand DICOM objects to a PACS: DIMSE C-STORE and DICOMweb STOW-RS."""

from __future__ import annotations

import io
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.uid import JPEGBaseline8Bit
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    DermoscopicPhotographyImageStorage,
    VLPhotographicImageStorage,
)

log = logging.getLogger(__name__)


class PacsError(Exception):
    """The PACS could not be reached or refused the images; the message says what happened."""


@dataclass(frozen=True)
class PacsTarget:
    """Where to send: a DIMSE peer (host, port, AE titles) and/or a STOW-RS base URL."""

    host: str = ""
    port: int = 104
    called_ae: str = "PACS"
    calling_ae: str = "DERMBRIDGE"
    stow_url: str = ""
    timeout: int = 30

    @property
    def configured(self) -> bool:
        return bool(self.host or self.stow_url)


def c_store(target: PacsTarget, datasets: Sequence[Dataset]) -> list[int]:
    """Send each object by C-STORE over one association; returns the DIMSE status of each."""
    ae = AE(ae_title=target.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = target.timeout
    for sop_class in (DermoscopicPhotographyImageStorage, VLPhotographicImageStorage):
        ae.add_requested_context(sop_class, [JPEGBaseline8Bit])
    assoc = ae.associate(target.host, target.port, ae_title=target.called_ae)
    if not assoc.is_established:
        raise PacsError(
            f"The PACS at {target.host}:{target.port} (AE {target.called_ae}) did not accept "
            "the connection: check DERMBRIDGE_PACS_HOST, _PORT and _AE_TITLE."
        )
    statuses: list[int] = []
    try:
        for ds in datasets:
            try:
                status = assoc.send_c_store(ds)
            except ValueError as exc:
                # pynetdicom's answer when the PACS accepted the connection but none of the
                # ways we offered to send this kind of image (no accepted presentation context).
                raise PacsError(
                    f"The PACS at {target.host}:{target.port} accepted the connection but not "
                    "these images (Dermoscopic Photography / VL Photographic Image Storage, JPEG "
                    f"baseline): ask its administrator to accept them ({exc})."
                ) from None
            code = int(status.Status) if status and "Status" in status else -1
            statuses.append(code)
    finally:
        assoc.release()
    failed = [s for s in statuses if s not in (0x0000, 0xB000, 0xB007, 0xB006)]
    if failed:
        raise PacsError(
            f"The PACS refused {len(failed)} of {len(statuses)} images (status {failed[0]:#06x})."
        )
    return statuses


def stow_rs(target: PacsTarget, files: Sequence[bytes]) -> int:
    """POST the Part 10 files to ``{stow_url}/studies`` as multipart/related; returns HTTP status."""
    boundary = f"dermbridge-{secrets.token_hex(12)}"
    body = io.BytesIO()
    for data in files:
        body.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        body.write(data)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    url = f"{target.stow_url}/studies"
    if not url.startswith(("http://", "https://")):
        raise PacsError("DERMBRIDGE_PACS_STOW_URL must be an http(s) URL.")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body.getvalue(),
        method="POST",
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=target.timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise PacsError(f"The DICOMweb server refused the images (HTTP {exc.code}).") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PacsError(
            f"The DICOMweb server at {target.stow_url} could not be reached ({exc})."
        ) from None
