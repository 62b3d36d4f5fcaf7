"""One way in for images (issue #11, imaging/intake.py): the photo page, the REST API and a FHIR
transaction all call the same imaging entry point, which judges each file by its content. The
same hospital camera's DICOM object, and the same PDF sent by mistake, are taken or refused
identically through each door."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest

from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.interop.fhir.resources import attachment_hash
from dermbridge.interop.services import fhir_bundle
from dermbridge.interop.tests.test_dicom_import import camera_object
from dermbridge.interop.tests.test_fhir_api import client_for, post_bundle
from dermbridge.referrals.models import Lesion, Referral
from dermbridge.testing import World, make_referral

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def through_the_page(world: World, lesion: Lesion, data: bytes) -> int:
    client = client_for(None)
    client.force_login(world.alice)
    upload = io.BytesIO(data)
    upload.name = "IMG0001"  # hospital systems often give no extension: content decides
    url = f"/referrals/{lesion.referral.pk}/lesions/{lesion.pk}/photos/"
    response = client.post(url, {"photos": [upload], "image_type": "dermoscopic"})
    return 202 if response.status_code == 302 else 400 if response.status_code == 200 else 500


def through_the_api(world: World, lesion: Lesion, data: bytes) -> int:
    upload = io.BytesIO(data)
    upload.name = "IMG0001"
    url = f"/api/referrals/{lesion.referral.reference}/lesions/{lesion.number}/images/"
    response = client_for(world.alice).post(
        url, {"file": upload, "image_type": "dermoscopic"}, format="multipart"
    )
    return int(response.status_code)


def through_fhir(world: World, photographed: Referral, data: bytes) -> int:
    """The photographed referral as a transaction Bundle, its dermoscopic Binary replaced by
    `data` (size and hash made to match, so only the content differs)."""
    bundle = fhir_bundle(photographed, user=world.alice)
    resources = [entry["resource"] for entry in bundle["entry"]]
    urls = {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}
    media = next(
        r
        for r in resources
        if r["resourceType"] == "Media" and r["view"]["coding"][0]["code"] == "dermoscopic"
    )
    urls[media["content"]["url"]]["data"] = base64.b64encode(data).decode()
    media["content"].update(size=len(data), hash=attachment_hash(data))
    response = post_bundle(world.alice, bundle)
    return 202 if response.status_code == 200 else int(response.status_code)


def dermoscopic_images(exclude: set[int]) -> list[tuple[Any, ...]]:
    return sorted(
        (i.image_type, i.dermoscopy_mode, i.status, i.width, i.height)
        for i in LesionImage.objects.filter(image_type="dermoscopic").exclude(pk__in=exclude)
    )


def test_a_dicom_object_is_taken_alike_through_the_page_the_api_and_fhir(
    world: World, photographed: Referral, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a hospital camera's Dermoscopic Photography object of the patient (contact,
    non-polarised) WHEN it is sent through each door THEN each door makes one ready dermoscopic
    image with the object's dermoscopy mode and the same size, each upload audited."""
    before = set(LesionImage.objects.values_list("pk", flat=True))
    data, _ = camera_object(photographed.patient.nhs_number, "dermoscopic", "contact_non_polarised")
    answers = {}
    for door in ("page", "api", "fhir"):
        lesion = make_referral(world, images=False, patient=photographed.patient).lesions.get()
        with django_capture_on_commit_callbacks(execute=True):
            if door == "page":
                answers[door] = through_the_page(world, lesion, data)
            elif door == "api":
                answers[door] = through_the_api(world, lesion, data)
            else:
                answers[door] = through_fhir(world, photographed, data)
    assert answers == {"page": 202, "api": 202, "fhir": 202}
    made = dermoscopic_images(before)
    assert len(made) == 3 and len(set(made)) == 1, made
    assert made[0][:3] == ("dermoscopic", "contact_non_polarised", ImageStatus.READY)
    new = LesionImage.objects.filter(image_type="dermoscopic").exclude(pk__in=before)
    uploads = AuditEvent.objects.filter(
        action="image.upload", object_id__in=[str(pk) for pk in new.values_list("pk", flat=True)]
    )
    assert uploads.count() == 3


def test_a_file_that_is_not_a_photo_is_refused_alike_through_each_door(
    world: World, photographed: Referral
) -> None:
    """GIVEN a PDF sent by mistake WHEN it goes through each door THEN each refuses it (400)
    and stores no image and no referral."""
    images, referrals = LesionImage.objects.count(), Referral.objects.count()
    lesion = make_referral(world, images=False).lesions.get()
    referrals += 1
    assert through_the_page(world, lesion, PDF) == 400
    assert through_the_api(world, lesion, PDF) == 400
    assert through_fhir(world, photographed, PDF) == 400
    assert (LesionImage.objects.count(), Referral.objects.count()) == (images, referrals)
