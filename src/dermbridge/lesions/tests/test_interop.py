"""The lesion outside DermBridge: a FHIR BodyStructure validated by fhir.resources, the REST API's
answers, and the DICOM objects of every visit's photos carrying the same Tracking UID."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from fhir.resources.R4B.bodystructure import BodyStructure
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dermbridge.interop.dicom import to_bytes
from dermbridge.interop.fhir.body_structure import (
    PATIENT_LESION_SYSTEM,
    patient_lesion_body_structure,
    patient_lesions_of,
)
from dermbridge.interop.services import dicom_objects
from dermbridge.lesions import services
from dermbridge.lesions.models import LesionEncounter, PatientLesion
from dermbridge.lesions.tests.support import visit
from dermbridge.personas import World


def test_a_patient_lesion_is_a_valid_fhir_body_structure(world: World) -> None:
    visit(world, None, size=4, days_ago=100)
    tracked = PatientLesion.objects.get()
    resource = patient_lesion_body_structure(tracked, "urn:uuid:patient")
    model = BodyStructure.model_validate(resource)  # raises on an invalid resource
    assert model.id == tracked.uid
    assert resource["identifier"] == [
        {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{tracked.uid}"},
        {"system": PATIENT_LESION_SYSTEM, "value": tracked.uid},
    ]
    assert resource["location"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "77568009",
        "display": tracked.body_site_label,
    }
    assert resource["locationQualifier"][0]["coding"][0]["code"] == "7771000"  # left
    assert resource["patient"] == {"reference": "urn:uuid:patient"}
    assert resource["active"] is True
    referral = tracked.encounters.get().lesion.referral
    assert patient_lesions_of(referral) == {tracked.encounters.get().lesion_id: tracked}


def test_the_api_lists_the_patients_lesions_and_links_one(world: World) -> None:
    first = visit(world, None, size=4, days_ago=300)
    later = visit(world, first.patient, size=6)
    tracked = PatientLesion.objects.get()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.derek).key}")
    lesion = later.lesions.get()
    bad = api.post(f"/api/referral-lesions/{lesion.pk}/link/", {"reason": "x"}, format="json")
    assert bad.status_code == 400 and "patient_lesion" in bad.json()["errors"]
    other = api.post(
        f"/api/referral-lesions/{lesion.pk}/link/", {"patient_lesion": "999999"}, format="json"
    )
    assert other.status_code == 404
    linked = api.post(
        f"/api/referral-lesions/{lesion.pk}/link/",
        {"patient_lesion": str(tracked.pk), "reason": "Same mole"},
        format="json",
    )
    assert linked.status_code == 200, linked.content
    assert linked.json()["how"] == "confirmed" and linked.json()["referral"] == later.reference
    listed = api.get(f"/api/patients/{first.patient_id}/lesions/").json()
    assert [d["uid"] for d in listed] == [tracked.uid]
    assert [e["referral"] for e in listed[0]["encounters"]] == [first.reference, later.reference]
    assert [e["recorded_size_mm"] for e in listed[0]["encounters"]] == ["4.0", "6.0"]
    one = api.get(f"/api/lesions/{tracked.pk}/").json()
    assert one["body_site_code"] == "77568009" and len(one["encounters"]) == 2


def test_the_schema_documents_the_lesions_endpoints(world: World) -> None:
    api = APIClient()
    api.force_authenticate(world.derek)
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    ops = {
        op["operationId"]
        for path, item in schema["paths"].items()
        if "lesions" in path
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert {"lesions_patient_list", "lesions_retrieve", "lesions_link"} <= ops


def test_every_visits_dicom_objects_carry_the_lesions_tracking_uid(
    world: World, tmp_path: Path
) -> None:
    first = visit(world, None, size=4, days_ago=300)
    later = visit(world, first.patient, size=6)
    tracked = PatientLesion.objects.get()
    unlinked = [ds for _, ds in dicom_objects(later, user=world.derek)]
    assert unlinked and all("TrackingUID" not in ds for ds in unlinked)
    services.link(later.lesions.get(), tracked, user=world.derek)
    datasets = [ds for r in (first, later) for _, ds in dicom_objects(r, user=world.derek)]
    assert len(datasets) == 6  # overview, close-up and dermoscopic, twice
    assert {ds.TrackingUID for ds in datasets} == {tracked.uid}
    assert all(ds.TrackingID.startswith("Left back, first seen") for ds in datasets)
    assert len({ds.StudyInstanceUID for ds in datasets}) == 2  # still one study per referral
    assert LesionEncounter.objects.count() == 2
    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy:  # dicom3tools, when installed (make test-all installs it)
        for i, ds in enumerate(datasets):
            path = tmp_path / f"{i}.dcm"
            path.write_bytes(to_bytes(ds))
            report = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True)
            errors = [x for x in (report.stdout + report.stderr).splitlines() if "Error" in x]
            assert errors == [], errors


def test_the_referral_bundle_names_the_patient_lesion_each_referral_lesion_shows(
    world: World,
) -> None:
    """Two referrals of one lesion: each Bundle's BodyStructure of it carries the same patient
    lesion identifier (an unlinked lesion carries only its number)."""
    from dermbridge.interop.services import fhir_bundle

    first = visit(world, None, size=4, days_ago=300)
    later = visit(world, first.patient, size=6)
    tracked = PatientLesion.objects.get()

    def structures(referral: object) -> list[dict]:
        bundle = fhir_bundle(referral, user=world.derek)  # type: ignore[arg-type]
        found = [
            e["resource"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "BodyStructure"
        ]
        for resource in found:
            BodyStructure.model_validate(resource)
        return found

    patient_lesion_id = {"system": PATIENT_LESION_SYSTEM, "value": tracked.uid}
    [unlinked] = structures(later)
    assert patient_lesion_id not in unlinked["identifier"]
    services.link(later.lesions.get(), tracked, user=world.derek)
    for referral in (first, later):
        [linked] = structures(referral)
        assert patient_lesion_id in linked["identifier"]
        assert {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{tracked.uid}"} in linked[
            "identifier"
        ]
