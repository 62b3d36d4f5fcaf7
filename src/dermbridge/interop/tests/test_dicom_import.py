"""Attaching a hospital camera's DICOM photograph to a lesion through the image pipeline."""

from __future__ import annotations

import io
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.imaging.storage import blob_store
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.interop import dicom
from dermbridge.interop.services import ReferralNotFound, import_dicom
from dermbridge.referrals.errors import InvalidReferral, NotPermitted
from dermbridge.referrals.models import Lesion
from dermbridge.testing import World, make_referral


@lru_cache(maxsize=8)
def camera_object(nhs_number: str, image_type: str, mode: str = "") -> tuple[bytes, bytes]:
    """A hospital camera's object (made with DermBridge's own writer) and the photo inside it."""
    photo = lesion_photo(800, 640, seed=7, kind=image_type)
    study = dicom.StudyContext(
        "HOSP-1",
        nhs_number,
        "Patient",
        "Jo",
        "19600517",
        "F",
        "",
        "City Hospital",
        datetime(2026, 11, 1, 9, 30),
        "Clinical photography",
    )
    image = dicom.ImageContext(
        "cam-1", image_type, mode, 1, "14975008", "Forearm", "right", None, "Camera"
    )
    return dicom.to_bytes(dicom.lesion_image_dataset(study, image, photo)), photo


@pytest.fixture
def lesion(world: World) -> Lesion:
    return make_referral(world, images=False).lesions.get()


def test_it_imports_a_dermoscopic_object_through_the_pipeline(
    world: World, lesion: Lesion, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a Dermoscopic Photography object (contact, non-polarised) of the referral's patient
    WHEN the photographer attaches it to the lesion
    THEN it goes through the image pipeline as a dermoscopic image with that mode, in true colour."""
    data, photo = camera_object(
        lesion.referral.patient.nhs_number, "dermoscopic", "contact_non_polarised"
    )
    with django_capture_on_commit_callbacks(execute=True):
        image = import_dicom(lesion, world.alice, io.BytesIO(data))
    image = LesionImage.objects.get(pk=image.pk)
    assert (image.status, image.image_type, image.dermoscopy_mode) == (
        ImageStatus.READY,
        "dermoscopic",
        "contact_non_polarised",
    )
    master = np.asarray(
        Image.open(io.BytesIO(blob_store().get(image.derivatives["master"]["address"]))),
        dtype=np.float32,
    )
    source = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"), dtype=np.float32)
    assert master.shape == source.shape
    assert np.abs(master.mean(axis=(0, 1)) - source.mean(axis=(0, 1))).max() < 3


def test_it_imports_a_vl_photograph_as_the_type_asked_for(world: World, lesion: Lesion) -> None:
    data, _ = camera_object(lesion.referral.patient.nhs_number, "overview")
    assert import_dicom(lesion, world.alice, io.BytesIO(data)).image_type == "close_up"
    assert (
        import_dicom(lesion, world.alice, io.BytesIO(data), image_type="overview").image_type
        == "overview"
    )


def test_it_refuses_another_patients_photograph(world: World, lesion: Lesion) -> None:
    """GIVEN a DICOM photograph whose Patient ID is a different NHS number
    THEN it is refused and nothing is attached: the wrong patient's image must never join a record."""
    data, _ = camera_object("9434765919", "dermoscopic", "contact_polarised")
    with pytest.raises(NotPermitted, match="another NHS number"):
        import_dicom(lesion, world.alice, io.BytesIO(data))
    assert not LesionImage.objects.exists()


def test_it_refuses_what_is_not_a_dermatology_photograph(world: World, lesion: Lesion) -> None:
    with pytest.raises(InvalidReferral, match="not a readable DICOM"):
        import_dicom(lesion, world.alice, io.BytesIO(b"not dicom at all"))
    ct = Dataset()
    ct.SOPClassUID, ct.SOPInstanceUID = CTImageStorage, "1.2.3"
    ct.file_meta = FileMetaDataset()
    ct.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    ct.save_as(out, enforce_file_format=True)
    with pytest.raises(InvalidReferral, match="Only Dermoscopic Photography or VL Photographic"):
        import_dicom(lesion, world.alice, io.BytesIO(out.getvalue()))
    assert not LesionImage.objects.exists()


def test_another_practice_cannot_attach_images(world: World, lesion: Lesion) -> None:
    data, _ = camera_object(lesion.referral.patient.nhs_number, "dermoscopic")
    with pytest.raises(ReferralNotFound):
        import_dicom(lesion, world.bob, io.BytesIO(data))
    assert not LesionImage.objects.exists()
