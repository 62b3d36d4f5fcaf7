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

from dermbridge.core.errors import InvalidImage, NotFound, NotPermitted
from dermbridge.imaging.intake import accept_photo
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.imaging.storage import blob_store
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.interop import dicom
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
        image = accept_photo(lesion, user=world.alice, fileobj=io.BytesIO(data), dicom_only=True)
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
    assert (
        accept_photo(lesion, user=world.alice, fileobj=io.BytesIO(data), dicom_only=True).image_type
        == "close_up"
    )
    assert (
        accept_photo(
            lesion,
            user=world.alice,
            fileobj=io.BytesIO(data),
            image_type="overview",
            dicom_only=True,
        ).image_type
        == "overview"
    )


def test_it_refuses_another_patients_photograph(world: World, lesion: Lesion) -> None:
    """GIVEN a DICOM photograph whose Patient ID is a different NHS number
    THEN it is refused and nothing is attached: the wrong patient's image must never join a record."""
    data, _ = camera_object("9434765919", "dermoscopic", "contact_polarised")
    with pytest.raises(NotPermitted, match="another NHS number"):
        accept_photo(lesion, user=world.alice, fileobj=io.BytesIO(data), dicom_only=True)
    assert not LesionImage.objects.exists()


def test_it_refuses_what_is_not_a_dermatology_photograph(world: World, lesion: Lesion) -> None:
    with pytest.raises(InvalidImage, match="not a readable DICOM"):
        accept_photo(
            lesion, user=world.alice, fileobj=io.BytesIO(b"not dicom at all"), dicom_only=True
        )
    ct = Dataset()
    ct.SOPClassUID, ct.SOPInstanceUID = CTImageStorage, "1.2.3"
    ct.file_meta = FileMetaDataset()
    ct.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    ct.save_as(out, enforce_file_format=True)
    with pytest.raises(InvalidImage, match="Only Dermoscopic Photography or VL Photographic"):
        accept_photo(lesion, user=world.alice, fileobj=io.BytesIO(out.getvalue()), dicom_only=True)
    assert not LesionImage.objects.exists()


def test_another_practice_cannot_attach_images(world: World, lesion: Lesion) -> None:
    data, _ = camera_object(lesion.referral.patient.nhs_number, "dermoscopic")
    with pytest.raises(NotFound):
        accept_photo(lesion, user=world.bob, fileobj=io.BytesIO(data), dicom_only=True)
    assert not LesionImage.objects.exists()


def other_vendor_object(nhs_number: str, photo: np.ndarray) -> bytes:
    """A VL Photographic object as another vendor's camera system might write it, built with
    pydicom alone: uncompressed RGB, colour-by-plane (Planar Configuration 1), explicit VR."""
    from pydicom.uid import VLPhotographicImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = VLPhotographicImageStorage
    ds.SOPClassUID = VLPhotographicImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = nhs_number, "Patient^Jo", "XC"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = photo.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(photo.transpose(2, 0, 1)).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_gp_system_attaches_another_vendors_dicom_photo_over_the_api(
    world: World, lesion: Lesion, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN an uncompressed, colour-by-plane VL Photographic object from another vendor
    WHEN the practice's system POSTs it to /api/referrals/{ref}/lesions/1/dicom/
    THEN it is accepted (202), goes through the pipeline as a close-up in the right colours;
    another practice gets 404 and nothing is attached; a non-DICOM file gets a 400 that says so."""
    from dermbridge.referrals.tests.api_support import api_client

    photo = np.asarray(
        Image.open(io.BytesIO(lesion_photo(800, 640, seed=3, kind="close_up"))).convert("RGB")
    )
    data = other_vendor_object(lesion.referral.patient.nhs_number, photo)
    url = f"/api/referrals/{lesion.referral.reference}/lesions/{lesion.number}/dicom/"

    outsider = api_client(world.bob).post(url, {"file": io.BytesIO(data)}, format="multipart")
    assert outsider.status_code == 404 and not LesionImage.objects.exists()
    bad = api_client(world.alice).post(url, {"file": io.BytesIO(b"%PDF-1.4")}, format="multipart")
    assert bad.status_code == 400 and "not a readable DICOM" in bad.content.decode()
    assert not LesionImage.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(world.alice).post(url, {"file": io.BytesIO(data)}, format="multipart")
    assert response.status_code == 202, response.content
    image = LesionImage.objects.get(pk=response.json()["id"])
    assert (image.status, image.image_type) == (ImageStatus.READY, "close_up")
    master = np.asarray(
        Image.open(io.BytesIO(blob_store().get(image.derivatives["master"]["address"]))),
        dtype=np.float32,
    )
    assert master.shape == photo.shape
    assert np.abs(master - photo.astype(np.float32)).mean() < 2


def test_the_photo_page_takes_a_dicom_object_beside_photos(
    client: Any, world: World, lesion: Lesion, django_capture_on_commit_callbacks: Any
) -> None:
    """A photographer's workstation chooses a camera's .dcm on the lesion's photo page: content,
    not the name, routes it through the DICOM import (Patient ID checked) and the pipeline."""
    data, _ = camera_object(lesion.referral.patient.nhs_number, "dermoscopic", "contact_polarised")
    client.force_login(world.alice)
    url = f"/referrals/{lesion.referral.pk}/lesions/{lesion.pk}/photos/"
    upload = io.BytesIO(data)
    upload.name = "IMG0001"  # hospital systems often give no extension
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"photos": [upload], "image_type": "dermoscopic"})
    assert response.status_code == 302
    image = LesionImage.objects.get(lesion=lesion)
    assert (image.status, image.dermoscopy_mode) == (ImageStatus.READY, "contact_polarised")
    # Another patient's object is refused on the page, and nothing is stored.
    wrong, _ = camera_object("9434765919", "dermoscopic", "contact_polarised")
    other = io.BytesIO(wrong)
    other.name = "IMG0002"
    page = client.post(url, {"photos": [other], "image_type": "dermoscopic"})
    assert page.status_code == 200 and "another NHS number" in page.content.decode()
    assert LesionImage.objects.filter(lesion=lesion).count() == 1
