"""`dermbridge export`: FHIR JSON, the e-RS pack and DICOM objects, audited, and refusing bad input."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image
from pydicom import dcmread
from pypdf import PdfReader

from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.storage import blob_store
from dermbridge.interop import fhir
from dermbridge.interop.ers import ERS_MAX_BYTES
from dermbridge.interop.tests.tools import require_tool
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import World, make_referral


def export(fmt: str, referral: Referral, out: Path, *extra: str) -> str:
    stdout = io.StringIO()
    call_command(
        "export",
        "--format",
        fmt,
        "--referral",
        referral.reference,
        "--out",
        str(out),
        *extra,
        stdout=stdout,
    )
    return stdout.getvalue()


def test_it_exports_the_fhir_bundle_as_json(
    world: World, triaged: Referral, tmp_path: Path
) -> None:
    output = export("fhir", triaged, tmp_path)
    (path,) = tmp_path.iterdir()
    bundle = json.loads(path.read_text())
    assert bundle["resourceType"] == "Bundle" and fhir.unresolved_references(bundle) == []
    assert f"Exported {triaged.reference} as fhir: 1 file(s)." in output
    event = AuditEvent.objects.filter(action="interop.export_fhir").get()
    assert event.object_id == str(triaged.pk) and event.actor_id is None


def test_it_exports_the_reference_that_the_referrals_command_lists(
    world: World, triaged: Referral, tmp_path: Path
) -> None:
    """`dermbridge referrals --json` is how an operator finds REF for `dermbridge export`:
    it lists reference, kind, state and image count, and its REF exports as is."""
    draft = make_referral(world, images=False)
    stdout = io.StringIO()
    call_command("referrals", "--json", stdout=stdout)
    rows = {row["reference"]: row for row in json.loads(stdout.getvalue())}
    assert rows[triaged.reference]["kind"] == triaged.kind == "usc"
    assert rows[triaged.reference]["state"] == "triaged"
    assert rows[triaged.reference]["image_count"] == 3
    assert rows[draft.reference]["image_count"] == 0
    assert AuditEvent.objects.filter(action="referral.list_export").count() == 1
    call_command(
        "export", "--format", "fhir", "--referral", triaged.reference, "--out", str(tmp_path)
    )
    (path,) = tmp_path.iterdir()
    assert json.loads(path.read_text())["resourceType"] == "Bundle"


def test_it_writes_an_ers_pack_with_a_text_letter_and_small_images(
    world: World, triaged: Referral, tmp_path: Path
) -> None:
    """GIVEN a triaged referral with three images and an AI assessment
    WHEN the e-RS pack is exported as derek
    THEN the letter PDF has real, extractable text (patient, NHS number, site, AI caveat) and
    thumbnails, and every image attachment is at most 5,000,000 bytes."""
    export("ers", triaged, tmp_path, "--user", "derek")
    letter = tmp_path / f"{triaged.reference}-letter.pdf"
    reader = PdfReader(letter)
    text = " ".join(page.extract_text() for page in reader.pages)
    patient = triaged.patient
    for expected in (
        patient.family_name,
        patient.formatted_nhs_number,
        "Back",
        "Is this lesion",
        "not a diagnosis",
        "Urgent suspected cancer",
        "Suspected malignant melanoma",  # until histology confirms it (issue #9)
    ):
        assert expected in text, expected
    assert sum(len(page.images) for page in reader.pages) == 3
    images = sorted(p for p in tmp_path.iterdir() if p.suffix == ".jpg")
    assert len(images) == 3
    assert all(0 < p.stat().st_size <= ERS_MAX_BYTES for p in images)
    assert 0 < letter.stat().st_size <= ERS_MAX_BYTES  # the letter is an e-RS attachment too
    assert AuditEvent.objects.filter(action="interop.export_ers", actor_id=world.derek.pk).exists()


def test_it_refuses_an_ers_attachment_over_5_mb(
    world: World, triaged: Referral, tmp_path: Path
) -> None:
    image = LesionImage.objects.filter(lesion__referral=triaged).first()
    assert image is not None
    big = b"\xff" * (ERS_MAX_BYTES + 1)
    image.derivatives["ers"] = {
        **image.derivatives["ers"],
        "address": blob_store().put(big),
        "size": len(big),
    }
    image.save(update_fields=["derivatives"])
    with pytest.raises(CommandError, match="over the e-RS limit"):
        export("ers", triaged, tmp_path / "pack")
    assert not (tmp_path / "pack").exists()
    assert not AuditEvent.objects.filter(action="interop.export_ers").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "fhir", "--referral", "DB-NOPE999"], "No referral DB-NOPE999"),
        (["--format", "fhir", "--referral", "{ref}", "--user", "bob"], "No referral"),
        (["--format", "fhir", "--referral", "{ref}", "--user", "nobody"], "No active user"),
        (["--format", "pdf", "--referral", "{ref}"], "invalid choice"),
    ],
)
def test_it_refuses_bad_input_and_writes_nothing(
    world: World, triaged: Referral, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    argv = [a.replace("{ref}", triaged.reference) for a in args]
    with pytest.raises((CommandError, SystemExit)) as info:
        call_command("export", *argv, "--out", str(out), stderr=io.StringIO())
    if isinstance(info.value, SystemExit):  # argparse refuses the format, naming the choices
        assert info.value.code == 2
    else:
        assert message in str(info.value)
    assert not out.exists()
    assert not AuditEvent.objects.filter(action__startswith="interop.export").exists()


def test_it_refuses_to_export_a_draft(world: World, tmp_path: Path) -> None:
    draft = make_referral(world, state=State.DRAFT)
    with pytest.raises(CommandError, match="is a draft"):
        export("dicom", draft, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_it_writes_valid_dicom_one_study_series_per_lesion_and_type(
    world: World, triaged: Referral, tmp_path: Path
) -> None:
    """GIVEN a referral with overview, close-up and dermoscopic images of one lesion
    WHEN exported as DICOM
    THEN the dermoscopic image is a Dermoscopic Photography object with its polarisation and
    contact method, the photos are VL Photographic, all share one study with the NHS number as
    Patient ID, each lesion/type has its own series, the site is SNOMED-coded, colours are
    right, and dciodvfy reports no errors."""
    dciodvfy = require_tool("dicom3tools", "dciodvfy")
    export("dicom", triaged, tmp_path)
    files = sorted(tmp_path.glob("*.dcm"))
    assert len(files) == 3
    datasets = {dcmread(f).SeriesDescription: dcmread(f) for f in files}
    derm = datasets["Lesion 1 Dermoscopic"]
    assert derm.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.7"
    assert (derm.LightSourcePolarization, derm.ContactMethod) == ("POLARIZED", "CONTACT")
    for name in ("Lesion 1 Overview", "Lesion 1 Close-up"):
        assert datasets[name].SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4"
    assert len({ds.StudyInstanceUID for ds in datasets.values()}) == 1
    assert len({ds.SeriesInstanceUID for ds in datasets.values()}) == 3
    for ds in datasets.values():
        assert ds.PatientID == triaged.patient.nhs_number and ds.IssuerOfPatientID == "NHS"
        assert ds.AnatomicRegionSequence[0].CodeValue == "77568009"
        assert ds.AnatomicRegionSequence[0].CodingSchemeDesignator == "SCT"
        assert ds.PhotometricInterpretation == "YBR_FULL_422"
        assert ds.ImageLaterality == "L"
    for path in files:
        report = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, check=False)
        errors = [line for line in (report.stdout + report.stderr).splitlines() if "Error" in line]
        assert errors == [], (path.name, errors)
    # Colour: the decoded DICOM pixels match the master photograph (no green skin).
    image = LesionImage.objects.get(pk=int(files[0].stem.rsplit("-", 1)[1]))
    master = np.asarray(
        Image.open(io.BytesIO(blob_store().get(image.derivatives["master"]["address"]))).convert(
            "RGB"
        ),
        dtype=np.float32,
    )
    pixels = dcmread(files[0]).pixel_array.astype(np.float32)
    assert pixels.shape == master.shape
    assert np.abs(pixels.mean(axis=(0, 1)) - master.mean(axis=(0, 1))).max() < 3
    assert np.abs(pixels - master).mean() < 4


def test_it_writes_valid_dermoscopic_objects_for_every_mode(tmp_path: Path) -> None:
    """GIVEN each dermoscopy mode (and none recorded)
    THEN the Dermoscopic Image Module says so and dciodvfy finds no error."""
    from datetime import datetime

    from dermbridge.imaging.synthetic import lesion_photo
    from dermbridge.interop import dicom

    dciodvfy = require_tool("dicom3tools", "dciodvfy")
    study = dicom.StudyContext(
        "DB-TEST234",
        "9990000018",
        "Patient",
        "Jo",
        "19600517",
        "F",
        "Smith^Alice",
        "Riverside Surgery",
        datetime(2026, 11, 1, 9),
        "Test",
    )
    photo = lesion_photo(96, 64, seed=3)
    expected = {
        "contact_non_polarised": ("NON_POLARIZED", "CONTACT"),
        "non_contact_polarised": ("POLARIZED", "NON_CONTACT"),
        "": ("", ""),
    }
    for mode, (polarization, contact) in expected.items():
        image = dicom.ImageContext(
            mode or "none", "dermoscopic", mode, 2, "14975008", "Forearm", "midline", None, ""
        )
        ds = dicom.lesion_image_dataset(study, image, photo)
        assert (ds.LightSourcePolarization, ds.ContactMethod) == (polarization, contact)
        assert ("ImmersionMedia" in ds) == (contact == "CONTACT")
        path = tmp_path / f"{mode or 'none'}.dcm"
        path.write_bytes(dicom.to_bytes(ds))
        report = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, check=False)
        assert "Error" not in report.stdout + report.stderr, (mode, report.stderr)
