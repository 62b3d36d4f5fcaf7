"""The FHIR REST endpoints: reads, search, Binary, the transaction POST, and isolation."""

from __future__ import annotations

import base64
import copy
import io
from typing import Any

import numpy as np
import pytest
from django.test import override_settings
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dermbridge.accounts.models import User
from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import LesionImage
from dermbridge.interop import codes
from dermbridge.interop.services import fhir_bundle
from dermbridge.referrals.models import Referral, ReferralKind
from dermbridge.testing import World, make_referral

FHIR = "application/fhir+json"


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def issues(response: Any) -> list[str]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return [i["diagnostics"] for i in body["issue"]]


def test_it_publishes_a_capability_statement(world: World) -> None:
    response = client_for(None).get("/fhir/metadata")
    assert response.status_code == 200 and response["Content-Type"].startswith(FHIR)
    body = response.json()
    assert (body["resourceType"], body["fhirVersion"]) == ("CapabilityStatement", "4.0.1")
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert types == {
        "ServiceRequest",
        "Patient",
        "Binary",
        "DiagnosticReport",
        "Schedule",
        "Slot",
        "Appointment",
    }


def test_it_reads_a_service_request_for_the_service_and_audits_it(
    world: World, triaged: Referral
) -> None:
    response = client_for(world.derek).get(f"/fhir/ServiceRequest/{triaged.reference}")
    assert response.status_code == 200 and response["Content-Type"].startswith(FHIR)
    body = response.json()
    assert (body["resourceType"], body["id"], body["priority"]) == (
        "ServiceRequest",
        triaged.reference,
        "asap",
    )
    assert AuditEvent.objects.filter(action="referral.view_fhir", actor_id=world.derek.pk).exists()
    # Every reference can be followed from outside a Bundle: the patient on this server...
    assert "urn:uuid" not in response.content.decode()
    patient_url = body["subject"]["reference"]
    assert patient_url == f"Patient/{triaged.patient_id}"
    patient = client_for(world.derek).get(f"/fhir/{patient_url}")
    assert patient.status_code == 200 and patient.json()["id"] == str(triaged.patient_id)
    # ...the requesting practice and the service by ODS code.
    assert body["requester"]["identifier"]["value"] == triaged.referring_org.ods_code
    assert body["performer"][0]["identifier"]["value"] == triaged.service.ods_code


def test_it_asks_for_authentication(world: World, triaged: Referral) -> None:
    response = client_for(None).get(f"/fhir/ServiceRequest/{triaged.reference}")
    assert response.status_code == 401
    assert issues(response)


def test_another_organisation_gets_404_and_no_data_everywhere(
    world: World, triaged: Referral
) -> None:
    """GIVEN a referral from Riverside Surgery to City Hospital Dermatology
    WHEN bob (another practice) or dora (another service) asks for any part of it
    THEN every endpoint answers 404 (or an empty search) and nothing about the patient."""
    image = LesionImage.objects.filter(lesion__referral=triaged).first()
    assert image is not None
    nhs = triaged.patient.nhs_number
    for outsider in (world.bob, world.dora):
        client = client_for(outsider)
        for url in (
            f"/fhir/ServiceRequest/{triaged.reference}",
            f"/fhir/Patient/{triaged.patient_id}",
            f"/fhir/Binary/{image.pk}-ers",
            f"/fhir/Binary/{image.pk}-master",
        ):
            response = client.get(url, HTTP_ACCEPT=FHIR)
            assert response.status_code == 404, (outsider, url)
            assert (
                nhs not in response.content.decode()
                and triaged.patient.family_name not in response.content.decode()
            )
        search = client.get(
            "/fhir/ServiceRequest", {"patient.identifier": f"{codes.NHS_NUMBER_SYSTEM}|{nhs}"}
        )
        assert (
            search.status_code == 200
            and search.json()["total"] == 0
            and "entry" not in search.json()
        )
        with override_settings(PACS_HOST="127.0.0.1"):
            send = client.post(f"/fhir/ServiceRequest/{triaged.reference}/$send-to-pacs")
        assert send.status_code == 404
    # Every refusal is logged as access.denied (ASVS 7.2.2); nothing was viewed.
    outsider_events = AuditEvent.objects.filter(actor_id__in=[world.bob.pk, world.dora.pk])
    assert set(outsider_events.values_list("action", flat=True)) == {"access.denied"}
    assert outsider_events.count() == 2 * 5


def test_it_searches_referrals_by_nhs_number(world: World, triaged: Referral) -> None:
    other = make_referral(world, patient=triaged.patient, kind=ReferralKind.ADVICE)
    query = {"patient.identifier": f"{codes.NHS_NUMBER_SYSTEM}|{triaged.patient.nhs_number}"}
    body = client_for(world.alice).get("/fhir/ServiceRequest", query).json()
    assert body["type"] == "searchset" and body["total"] == 2
    assert {e["resource"]["id"] for e in body["entry"]} == {triaged.reference, other.reference}
    assert "urn:uuid" not in str(body)
    bad = client_for(world.alice).get("/fhir/ServiceRequest", {"patient.identifier": "urn:x|1"})
    assert bad.status_code == 400 and "nhs-number" in issues(bad)[0]


def test_it_reads_the_patient(world: World, triaged: Referral) -> None:
    body = client_for(world.alice).get(f"/fhir/Patient/{triaged.patient_id}").json()
    identifier = body["identifier"][0]
    assert (identifier["system"], identifier["value"]) == (
        codes.NHS_NUMBER_SYSTEM,
        triaged.patient.nhs_number,
    )
    # UK Core: the number passes its check digit but was not traced on PDS, and says so.
    (status,) = identifier["extension"]
    assert status["url"] == codes.NHS_NUMBER_VERIFICATION_EXT
    assert status["valueCodeableConcept"]["coding"] == [codes.NHS_NUMBER_NOT_TRACED]
    # Outside a Bundle the GP practice is a logical reference by ODS code, not a urn:uuid.
    gp = body["generalPractitioner"][0]
    assert gp["identifier"] == {"system": codes.ODS_SYSTEM, "value": world.practice_a.ods_code}
    assert "reference" not in gp
    assert AuditEvent.objects.filter(action="patient.view_fhir", actor_id=world.alice.pk).exists()


def test_it_serves_binary_bytes_or_a_binary_resource_audited(
    world: World, triaged: Referral
) -> None:
    image = LesionImage.objects.filter(lesion__referral=triaged).first()
    assert image is not None
    client = client_for(world.derek)
    raw = client.get(f"/fhir/Binary/{image.pk}-ers", HTTP_ACCEPT="image/*")
    assert raw.status_code == 200 and raw["Content-Type"] == "image/jpeg"
    assert raw["Cache-Control"] == "private, no-store"
    resource = client.get(f"/fhir/Binary/{image.pk}-ers", HTTP_ACCEPT=FHIR).json()
    assert base64.b64decode(resource["data"]) == raw.content
    assert AuditEvent.objects.filter(action="image.view", actor_id=world.derek.pk).count() == 2
    assert client.get(f"/fhir/Binary/{image.pk}-secret").status_code == 404


# ---------------------------------------------------------------- POST transaction


@pytest.fixture
def draft(world: World) -> Referral:
    """A draft with small ready-made images: enough for bundles refused before the pipeline."""
    return make_referral(world)


def post_bundle(user: User, bundle: dict[str, Any]) -> Any:
    """POST to the base the CapabilityStatement names (``/fhir``, no trailing slash)."""
    return client_for(user).post("/fhir", bundle, format="json")


def content(referral: Referral) -> dict[str, Any]:
    history = referral.history
    return {
        "kind": referral.kind,
        "question": referral.clinical_question,
        "patient": referral.patient_id,
        "referring": referral.referring_org_id,
        "service": referral.service_id,
        # Every field of the structured history, not a sample of them.
        "history": {
            f.name: getattr(history, f.name)
            for f in type(history)._meta.concrete_fields
            if f.name not in ("id", "referral")
        },
        "lesions": [
            (x.number, x.body_site_code, x.laterality, x.size_mm, x.description, x.pigmented)
            for x in referral.lesions.all()
        ],
        "images": sorted(
            (i.lesion.number, i.image_type, i.dermoscopy_mode, i.status, i.width, i.height)
            for i in LesionImage.objects.filter(lesion__referral=referral)
        ),
    }


def test_it_round_trips_a_referral_through_a_transaction_bundle(
    world: World, photographed: Referral, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a referral exported as a FHIR transaction Bundle (with its images as Binary)
    WHEN the referring GP's system POSTs it to DermBridge (the 'second instance': the same
    test database, where the practice, service and patient are known by ODS code and NHS number)
    THEN a new draft referral is created with the same kind, question, history, lesions and
    images, and the images went through the pipeline to the same pixels."""
    bundle = fhir_bundle(photographed, user=world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_bundle(world.alice, bundle)
    assert response.status_code == 200, response.content
    location = response.json()["entry"][0]["response"]["location"]
    copy_ = Referral.objects.get(reference=location.split("/")[1])
    assert copy_.pk != photographed.pk and copy_.state == "draft"
    assert content(copy_) == content(photographed)
    for source in LesionImage.objects.filter(lesion__referral=photographed):
        twin = LesionImage.objects.get(lesion__referral=copy_, image_type=source.image_type)
        from dermbridge.imaging.storage import blob_store

        a, b = (
            np.asarray(
                Image.open(io.BytesIO(blob_store().get(i.derivatives["viewer"]["address"]))),
                dtype=np.float32,
            )
            for i in (source, twin)
        )
        assert a.shape == b.shape and np.abs(a - b).mean() < 3
    assert AuditEvent.objects.filter(action="interop.fhir_import", object_id=str(copy_.pk)).exists()


def test_it_answers_a_broken_bundle_with_every_problem_and_creates_nothing(
    world: World, draft: Referral
) -> None:
    bundle = fhir_bundle(draft, user=world.alice)
    broken = copy.deepcopy(bundle)
    for entry in broken["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Patient":
            res["identifier"] = []
        if res["resourceType"] == "Media" and res["view"]["coding"][0]["code"] == "overview":
            res["content"]["hash"] = "AAAA"
        if res["resourceType"] == "QuestionnaireResponse":
            res["item"].append({"linkId": "favourite_colour", "answer": [{"valueString": "blue"}]})
    before = (Referral.objects.count(), LesionImage.objects.count())
    response = post_bundle(world.alice, broken)
    assert response.status_code == 400
    found = " | ".join(issues(response))
    assert "NHS number" in found and "hash does not match" in found and "favourite_colour" in found
    assert (Referral.objects.count(), LesionImage.objects.count()) == before


def test_it_rolls_everything_back_when_a_service_refuses_part(
    world: World, draft: Referral
) -> None:
    """GIVEN a bundle whose lesion site is not a coded body site
    THEN the answer names the lesion field and no patient, referral or image is created."""
    bundle = fhir_bundle(draft, user=world.alice)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "BodyStructure":
            entry["resource"]["location"]["coding"][0]["code"] = "123"
    before = (Referral.objects.count(), LesionImage.objects.count(), AuditEvent.objects.count())
    response = post_bundle(world.alice, bundle)
    assert response.status_code == 400
    assert any("lesions[1].body_site_code" in i for i in issues(response))
    assert (
        Referral.objects.count(),
        LesionImage.objects.count(),
        AuditEvent.objects.count(),
    ) == before


def test_it_refuses_a_bundle_from_another_practice(world: World, draft: Referral) -> None:
    bundle = fhir_bundle(draft, user=world.alice)
    before = Referral.objects.count()
    response = post_bundle(world.bob, bundle)
    assert response.status_code == 403
    assert "Riverside Surgery" in issues(response)[0]
    assert Referral.objects.count() == before
    assert post_bundle(world.alice, {"resourceType": "Patient"}).status_code == 400
    # The same answer at the base with a trailing slash.
    slash = client_for(world.bob).post("/fhir/", bundle, format="json")
    assert slash.status_code == 403
    with override_settings(MAX_UPLOAD_BYTES=1000):
        too_big = post_bundle(world.alice, bundle)
    assert too_big.status_code == 413 and "larger than" in issues(too_big)[0]
    assert Referral.objects.count() == before


def test_it_queues_a_pacs_send_from_the_page(
    world: World, triaged: Referral, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(world.derek)
    url = f"/fhir/ServiceRequest/{triaged.reference}/$send-to-pacs"
    assert client.post(url).status_code == 400  # no PACS configured
    with (
        override_settings(PACS_HOST="127.0.0.1"),
        django_capture_on_commit_callbacks() as callbacks,
    ):
        response = client.post(url, {"next": "/referrals/1/"})
    assert response.status_code == 302 and response["Location"] == "/referrals/1/"
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(action="interop.pacs_send_queued").count() == 1


def test_it_accepts_a_signed_in_session_as_the_api_does(world: World, triaged: Referral) -> None:
    client = APIClient()
    client.force_login(world.derek)
    response = client.get(f"/fhir/ServiceRequest/{triaged.reference}")
    assert response.status_code == 200 and response.json()["id"] == triaged.reference
    client.force_login(world.dora)
    assert client.get(f"/fhir/ServiceRequest/{triaged.reference}").status_code == 404


def test_it_registers_a_new_patient_with_their_consent(world: World, draft: Referral) -> None:
    """GIVEN a GP system's bundle for a patient DermBridge has never seen, with direct-care consent
    THEN the patient is registered at the referring practice with that consent, and the draft
    referral is theirs."""
    from dermbridge.patients.models import Patient
    from dermbridge.testing import nhs_number_for

    bundle = fhir_bundle(draft, user=world.alice)
    new_nhs = nhs_number_for(424242)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["identifier"][0]["value"] = new_nhs
            entry["resource"]["name"] = [{"family": "Okafor", "given": ["Ada"]}]
            entry["resource"]["telecom"] = [{"system": "phone", "value": "07700900123"}]
    response = post_bundle(world.alice, bundle)
    assert response.status_code == 200, response.content
    patient = Patient.objects.get(nhs_number=new_nhs)
    assert (patient.family_name, patient.registered_practice, patient.contact_preference) == (
        "Okafor",
        world.practice_a,
        "sms",
    )
    assert patient.consent_for("direct_care")
    assert Referral.objects.filter(patient=patient, state="draft").count() == 1
