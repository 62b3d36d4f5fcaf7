"""Sending a referral's images to a real PACS (Orthanc on loopback) by C-STORE and STOW-RS."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import dcmread

from dermbridge.audit.models import AuditEvent
from dermbridge.core.errors import ExternalSystemFailed, NotFound
from dermbridge.interop.pacs import PacsTarget
from dermbridge.interop.services import dicom_objects, send_to_pacs
from dermbridge.interop.tasks import send_referral_to_pacs
from dermbridge.interop.tests.tools import require_tool, run_install_script
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import World, make_referral

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Orthanc:
    def __init__(self, http_port: int, dicom_port: int) -> None:
        self.http = f"http://127.0.0.1:{http_port}"
        self.dicom_port = dicom_port

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.http + path, timeout=10) as response:  # noqa: S310
            data = response.read()
        return (
            json.loads(data) if response.headers.get_content_type() == "application/json" else data
        )

    def delete_everything(self) -> None:
        for patient in self.get("/patients"):
            url = f"{self.http}/patients/{patient}"
            request = urllib.request.Request(url, method="DELETE")  # noqa: S310
            urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def target(self, *, dimse: bool = True, stow: bool = False) -> PacsTarget:
        return PacsTarget(
            host="127.0.0.1" if dimse else "",
            port=self.dicom_port,
            called_ae="ORTHANC",
            calling_ae="DERMBRIDGE",
            stow_url=f"{self.http}/dicom-web" if stow else "",
            timeout=10,
        )


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """Orthanc with the DICOMweb plugin on free loopback ports, no authentication, in a temp dir."""
    binary = require_tool("orthanc", "Orthanc")
    if not DICOMWEB_PLUGIN.exists():
        # Orthanc is here without its DICOMweb plugin: the script installs just the plugin.
        reason = run_install_script("orthanc")
        if not DICOMWEB_PLUGIN.exists():
            pytest.skip(
                "the Orthanc DICOMweb plugin (Debian package orthanc-dicomweb) is not installed "
                f"and could not be installed: {reason}"
            )
    home = tmp_path_factory.mktemp("orthanc")
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "DermBridgeTest",
        "StorageDirectory": str(home / "db"),
        "IndexDirectory": str(home / "db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "UnknownSopClassAccepted": True,
        "DicomAlwaysAllowStore": True,
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "HttpBindAddress": "127.0.0.1",
        "DicomScpTimeout": 10,
    }
    (home / "orthanc.json").write_text(json.dumps(config))
    log = (home / "orthanc.log").open("w")
    process = subprocess.Popen(
        [binary, str(home / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
    )
    server = Orthanc(http_port, dicom_port)
    # Orthanc is installed: one that will not start is a failure to look at, not a skip.
    deadline = time.monotonic() + 90
    while True:
        try:
            server.get("/system")
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"Orthanc did not start: {(home / 'orthanc.log').read_text()[-800:]}")
            time.sleep(0.2)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def check_stored(orthanc: Orthanc, referral: Referral, world: World) -> None:
    """Orthanc holds exactly the referral's objects: same patient, study and pixels."""
    sent = {str(ds.SOPInstanceUID): ds for _, ds in dicom_objects(referral, user=world.derek)}
    instances = orthanc.get("/instances")
    assert len(instances) == len(sent) == 3
    for instance in instances:
        stored = dcmread(io.BytesIO(orthanc.get(f"/instances/{instance}/file")))
        original = sent[str(stored.SOPInstanceUID)]
        assert stored.PatientID == referral.patient.nhs_number == original.PatientID
        assert stored.StudyInstanceUID == original.StudyInstanceUID
        assert stored.SOPClassUID == original.SOPClassUID
        assert stored.PixelData == original.PixelData
        assert np.array_equal(stored.pixel_array, original.pixel_array)
    (study,) = orthanc.get("/studies")
    tags = orthanc.get(f"/studies/{study}")["MainDicomTags"]
    assert tags["AccessionNumber"] == referral.reference
    patient = orthanc.get(f"/studies/{study}")["PatientMainDicomTags"]
    assert patient["PatientID"] == referral.patient.nhs_number


def test_it_sends_a_referral_to_orthanc_by_c_store(world: World, orthanc: Orthanc) -> None:
    """GIVEN a triaged referral with three images and Orthanc listening on loopback
    WHEN the service sends it to the PACS by C-STORE (twice: the UIDs are stable)
    THEN Orthanc holds one study with three instances whose patient, study and pixels match."""
    orthanc.delete_everything()
    referral = make_referral(world, state=State.TRIAGED)
    result = send_to_pacs(referral, world.derek, target=orthanc.target())
    send_to_pacs(referral, world.derek, target=orthanc.target())
    assert (result.images, result.c_store, result.stow_rs) == (3, True, False)
    check_stored(orthanc, referral, world)
    assert (
        AuditEvent.objects.filter(action="interop.pacs_send", actor_id=world.derek.pk).count() == 2
    )


def test_it_sends_a_referral_to_orthanc_by_stow_rs_from_the_task(
    world: World, orthanc: Orthanc, settings: Any
) -> None:
    orthanc.delete_everything()
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    settings.PACS_HOST, settings.PACS_STOW_URL = "", f"{orthanc.http}/dicom-web"
    outcome = send_referral_to_pacs.call(referral.pk, world.derek.pk)
    assert outcome == "sent 3 images"
    check_stored(orthanc, referral, world)


def test_it_reports_an_unreachable_pacs_and_audits_the_failure(
    world: World, orthanc: Orthanc
) -> None:
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    target = PacsTarget(host="127.0.0.1", port=free_port(), called_ae="ORTHANC", timeout=2)
    with pytest.raises(ExternalSystemFailed, match="did not accept the connection"):
        send_to_pacs(referral, world.derek, target=target)
    assert AuditEvent.objects.filter(action="interop.pacs_send_failed").count() == 1
    with pytest.raises(NotFound):
        send_to_pacs(referral, world.dora, target=orthanc.target())
