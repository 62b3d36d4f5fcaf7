"""A PACS that answers but will not take our kind of image is a clear, audited failure."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.uid import DermoscopicPhotographyImageStorage, JPEGBaseline8Bit
from pynetdicom import AE

from dermbridge.audit.models import AuditEvent
from dermbridge.core.errors import ExternalSystemFailed
from dermbridge.core.scaled import free_port
from dermbridge.interop.pacs import PacsError, PacsTarget, c_store
from dermbridge.interop.services import dicom_objects, send_to_pacs

pytestmark = pytest.mark.django_db


@pytest.fixture
def dermoscopy_only_pacs() -> Any:
    """A real DICOM peer (pynetdicom) that stores dermoscopic photographs only: it accepts the
    association, and refuses the overview and close-up (VL Photographic) objects' context."""
    ae = AE(ae_title="DERMONLY")
    ae.add_supported_context(DermoscopicPhotographyImageStorage, JPEGBaseline8Bit)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    try:
        yield PacsTarget(host="127.0.0.1", port=port, called_ae="DERMONLY", timeout=10)
    finally:
        assert server is not None
        server.shutdown()


def test_a_pacs_that_takes_no_photographs_is_a_pacs_error(
    dermoscopy_only_pacs, triaged, world
) -> None:
    """GIVEN a PACS that accepts the association but not VL Photographic storage
    WHEN the images are sent THEN the send fails with a PacsError naming what to ask for (not an
    unhandled ValueError), and through the service the failure is audited."""
    objects = [ds for _, ds in dicom_objects(triaged, user=world.derek)]
    with pytest.raises(PacsError, match="accepted the connection but not these images"):
        c_store(dermoscopy_only_pacs, objects)
    with pytest.raises(ExternalSystemFailed, match="accepted the connection but not"):
        send_to_pacs(triaged, world.derek, target=dermoscopy_only_pacs)
    assert AuditEvent.objects.filter(action="interop.pacs_send_failed").count() == 1
