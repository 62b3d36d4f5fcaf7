"""Lesion photographs as DICOM objects, and DICOM objects back to pixels: pure functions.

Dermoscopic images become Dermoscopic Photography Image Storage objects (Supplement 221,
with the Dermoscopic Image Module filled from the capture's dermoscopy mode); overview and
close-up photographs become VL Photographic Image Storage objects. One study per referral,
one series per lesion and image type. Pixels travel as JPEG baseline with YBR_FULL_422
colour (the photometric interpretation JPEG baseline really stores), so viewers show skin in
its true colour. UIDs are derived from the referral and image, so sending twice updates the
PACS instead of duplicating.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from PIL import Image
from pydicom import Dataset, FileDataset, FileMetaDataset, dcmread
from pydicom.encaps import encapsulate
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    DermoscopicPhotographyImageStorage,
    JPEGBaseline8Bit,
    VLPhotographicImageStorage,
    generate_uid,
)

# DICOM in (a hospital camera's photograph to pixels) is image intake, imaging's; DICOM out is
# here. The dermoscopy-mode mapping is shared by both.
from dermbridge.imaging.pipeline.dicom import (  # noqa: F401 - re-exported for DICOM out
    DERMOSCOPY,
    IMPORTABLE,
    DicomImportError,
    ImportedPhoto,
    photo_from_dicom,
)
from dermbridge.interop import codes as c
from dermbridge.vocabulary.choices import ImageType

# A UID root for DermBridge objects: the pydicom root with deterministic suffixes.
UID_PREFIX = "1.2.826.0.1.3680043.8.498."
# Series descriptions name the image type as the app does, without the explanation in brackets
# ("Overview (locating)" is the "Overview" series).
IMAGE_LABELS = {t.value: str(t.label).split(" (")[0] for t in ImageType}


@dataclass(frozen=True)
class StudyContext:
    """Who and what the study is about: one referral."""

    reference: str
    nhs_number: str
    family_name: str
    given_name: str
    birth_date: str  # YYYYMMDD
    sex: str  # M, F, O or ""
    referrer_name: str
    institution: str
    study_datetime: datetime
    description: str


@dataclass(frozen=True)
class ImageContext:
    """One photograph in the study."""

    key: str  # stable id of the image within DermBridge
    image_type: str
    dermoscopy_mode: str
    lesion_number: int
    site_code: str
    site_label: str
    laterality: str
    acquired: datetime | None
    device_model: str
    # The patient's lesion this photo shows (lesions.PatientLesion.uid, a 2.25 UID) and a short
    # text naming it: Tracking UID / Tracking ID, so a PACS groups a lesion's images over years.
    lesion_uid: str = ""
    lesion_tracking_id: str = ""


def uid_for(*parts: object) -> UID:
    """A deterministic UID: the same referral and image always give the same UIDs."""
    return generate_uid(prefix=UID_PREFIX, entropy_srcs=[str(p) for p in parts])


def jpeg_baseline(pixels: Image.Image, quality: int = 95) -> bytes:
    """JPEG baseline, 4:2:2 chroma subsampling: exactly what YBR_FULL_422 describes."""
    out = io.BytesIO()
    pixels.convert("RGB").save(
        out, "JPEG", quality=quality, subsampling="4:2:2", optimize=False, progressive=False
    )
    return out.getvalue()


def _sex(value: str) -> str:
    return {"female": "F", "male": "M", "other": "O"}.get(value, "")


def sex_code(value: str) -> str:
    return _sex(value)


def _laterality(value: str) -> str:
    return {"left": "L", "right": "R", "bilateral": "B", "midline": "U"}.get(value, "")


def lesion_image_dataset(study: StudyContext, image: ImageContext, photo: bytes) -> FileDataset:
    """Build one DICOM object from a photograph (any format Pillow reads)."""
    with Image.open(io.BytesIO(photo)) as pil:
        pil.load()
        rgb = pil.convert("RGB")
    frame = jpeg_baseline(rgb)
    dermoscopic = image.image_type == "dermoscopic"
    sop_class = DermoscopicPhotographyImageStorage if dermoscopic else VLPhotographicImageStorage
    sop_instance = uid_for(study.reference, "image", image.key)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "DERMBRIDGE_1"
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 192"

    # Patient: the NHS number with its issuer.
    ds.PatientName = f"{study.family_name.upper()}^{study.given_name}"
    ds.PatientID = study.nhs_number
    ds.IssuerOfPatientID = "NHS"
    ds.IssuerOfPatientIDQualifiersSequence = [Dataset()]
    ds.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID = "2.16.840.1.113883.2.1.4.1"
    ds.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityIDType = "ISO"
    ds.TypeOfPatientID = "TEXT"
    ds.PatientBirthDate = study.birth_date
    ds.PatientSex = study.sex

    # Study: one per referral; the referral reference is the accession number.
    ds.StudyInstanceUID = uid_for(study.reference, "study")
    ds.StudyDate = study.study_datetime.strftime("%Y%m%d")
    ds.StudyTime = study.study_datetime.strftime("%H%M%S")
    ds.ReferringPhysicianName = study.referrer_name
    ds.StudyID = study.reference[-16:]
    ds.AccessionNumber = study.reference[-16:]
    ds.StudyDescription = study.description[:64]

    # Series: one per lesion and image type.
    ds.SeriesInstanceUID = uid_for(study.reference, "series", image.lesion_number, image.image_type)
    ds.SeriesNumber = (
        image.lesion_number * 10
        + ("overview", "close_up", "dermoscopic").index(image.image_type)
        + 1
    )
    ds.Modality = c.DICOM_MODALITY[image.image_type]
    ds.SeriesDescription = f"Lesion {image.lesion_number} {IMAGE_LABELS[image.image_type]}"
    if dermoscopic:
        # Dermoscopic images are located on the patient: a Frame of Reference per lesion.
        ds.FrameOfReferenceUID = uid_for(study.reference, "frame", image.lesion_number)
        ds.PositionReferenceIndicator = ""

    if image.lesion_uid:
        # The same lesion across referrals and years (lesions app, ADR 0014): the Tracking
        # Identifier attributes (0062,0020)/(0062,0021) DICOM uses to follow one finding over
        # time, added to the photographic IOD as standard extended attributes.
        ds.TrackingID = (image.lesion_tracking_id or image.lesion_uid)[:64]
        ds.TrackingUID = image.lesion_uid

    # Equipment.
    ds.Manufacturer = ""
    ds.InstitutionName = study.institution[:64]
    ds.ManufacturerModelName = image.device_model[:64]
    ds.SoftwareVersions = "DermBridge"
    if dermoscopic:
        ds.Manufacturer = "Unknown"
        ds.ManufacturerModelName = image.device_model[:64] or "Unknown"
        ds.DeviceSerialNumber = "Unknown"

    # Image.
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    if image.acquired is not None:
        ds.AcquisitionDateTime = image.acquired.strftime("%Y%m%d%H%M%S")
        ds.ContentDate = image.acquired.strftime("%Y%m%d")
        ds.ContentTime = image.acquired.strftime("%H%M%S")
    else:
        ds.AcquisitionDateTime = ""
        ds.ContentDate = study.study_datetime.strftime("%Y%m%d")
        ds.ContentTime = study.study_datetime.strftime("%H%M%S")
    ds.PatientOrientation = ""
    ds.ImageLaterality = _laterality(image.laterality) or "U"
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.LossyImageCompressionRatio = f"{(rgb.width * rgb.height * 3) / len(frame):.2f}"[:16]
    ds.AcquisitionContextSequence = []

    # Anatomy: the lesion's SNOMED CT body site.
    region = Dataset()
    region.CodeValue = image.site_code
    region.CodingSchemeDesignator = "SCT"
    region.CodeMeaning = image.site_label[:64]
    ds.AnatomicRegionSequence = [region]

    if dermoscopic:
        polarization, contact = DERMOSCOPY.get(image.dermoscopy_mode, ("", ""))
        ds.LightSourcePolarization = polarization
        ds.ContactMethod = contact
        ds.EmitterColorTemperature = None
        if contact == "CONTACT":
            # Type 2C: present (empty: not recorded at capture) only for contact dermoscopy.
            ds.ImmersionMedia = ""
        ds.OpticalMagnificationFactor = None

    # Pixels.
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rgb.height, rgb.width
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"

    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.InstanceCreationDate = datetime.now().strftime("%Y%m%d")
    ds.InstanceCreationTime = datetime.now().strftime("%H%M%S")
    # Read back what was written, so the dataset carries its encoding (explicit VR little
    # endian, JPEG baseline) the way a received file does: network senders rely on it.
    return dcmread(io.BytesIO(to_bytes(ds)))


def to_bytes(ds: FileDataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
