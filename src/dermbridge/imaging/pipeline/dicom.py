"""A hospital camera's DICOM photograph back to pixels: image intake, judged by content.

Dermoscopic Photography and VL Photographic objects become an sRGB PNG with the image type and
dermoscopy mode the object records; the image pipeline then treats it like any phone photo
(imaging/intake.py is the one way in). Making DICOM objects of our photographs, for PACS and
export, is interop's (interop/dicom.py), which shares the dermoscopy-mode mapping below.
Pure functions: no Django.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom import Dataset, dcmread
from pydicom.uid import (
    DermoscopicPhotographyImageStorage,
    JPEGBaseline8Bit,
    VLPhotographicImageStorage,
)

DERMOSCOPY = {
    # mode -> (Light Source Polarization, Contact Method)
    "contact_polarised": ("POLARIZED", "CONTACT"),
    "contact_non_polarised": ("NON_POLARIZED", "CONTACT"),
    "non_contact_polarised": ("POLARIZED", "NON_CONTACT"),
}


class DicomImportError(ValueError):
    """A DICOM file that cannot become a lesion photograph; the message says why."""


def is_dicom(head: bytes) -> bool:
    """A DICOM Part 10 file: a 128-byte preamble, then ``DICM`` (by content, never by name)."""
    return len(head) >= 132 and head[128:132] == b"DICM"


IMPORTABLE: dict[str, str] = {
    DermoscopicPhotographyImageStorage: "dermoscopic",
    VLPhotographicImageStorage: "close_up",
}


@dataclass(frozen=True)
class ImportedPhoto:
    """The pixels of a hospital camera's DICOM object, ready for the image pipeline."""

    png: bytes
    image_type: str
    dermoscopy_mode: str
    sop_instance_uid: str
    patient_id: str


def photo_from_dicom(data: bytes) -> ImportedPhoto:
    """Extract the pixels of a dermoscopic or VL photographic object as an sRGB PNG."""
    try:
        ds = dcmread(io.BytesIO(data))
    except Exception as exc:
        raise DicomImportError(f"This is not a readable DICOM file ({exc}).") from None
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class not in IMPORTABLE:
        raise DicomImportError(
            "Only Dermoscopic Photography or VL Photographic images can be attached to a lesion "
            f"(this object's SOP class is {sop_class or 'missing'})."
        )
    if "PixelData" not in ds:
        raise DicomImportError("The DICOM object has no pixel data.")
    try:
        array = ds.pixel_array
    except Exception as exc:
        raise DicomImportError(f"The image pixels cannot be decoded ({exc}).") from None
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric.startswith("YBR") and not _decoded_to_rgb(ds):
        from pydicom.pixels import convert_color_space

        array = convert_color_space(array, photometric, "RGB")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        array = array[0]
    if array.dtype != np.uint8:
        # The photographic IODs are 8-bit; scale rather than wrap anything deeper.
        bits = int(ds.get("BitsStored", 16) or 16)
        array = (array.astype(np.float64) * 255.0 / float(2**bits - 1)).clip(0, 255).round()
    if array.ndim == 2:
        pil = Image.fromarray(array.astype(np.uint8), "L").convert("RGB")
    else:
        pil = Image.fromarray(array.astype(np.uint8), "RGB")
    out = io.BytesIO()
    pil.save(out, "PNG")
    image_type = IMPORTABLE[sop_class]
    mode = ""
    if image_type == "dermoscopic":
        found = (str(ds.get("LightSourcePolarization", "")), str(ds.get("ContactMethod", "")))
        mode = next((m for m, pair in DERMOSCOPY.items() if pair == found), "")
    return ImportedPhoto(
        out.getvalue(), image_type, mode, str(ds.SOPInstanceUID), str(ds.get("PatientID", ""))
    )


def _decoded_to_rgb(ds: Dataset) -> bool:
    # pydicom's Pillow JPEG decoder returns RGB for YBR_FULL_422 JPEG baseline already.
    return str(ds.file_meta.get("TransferSyntaxUID", "")) == JPEGBaseline8Bit
