"""The REST API, endpoint by endpoint: happy paths, validation, and the audit of reads."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.patients.models import Consent, Patient
from dermbridge.referrals import services
from dermbridge.referrals.models import Lesion, Referral, State
from dermbridge.referrals.tests.api_support import BAD_NHS_NUMBER, api_client, new_referral_body
from dermbridge.testing import attach_ready_image, make_patient, make_referral


def test_it_creates_a_draft_referral_with_a_new_patient_in_one_call(world):
    """GIVEN a referrer's capture app WHEN it sends patient, history and a lesion in one call
    THEN a draft exists with all of them, and the answer shows what still stops submission."""
    response = api_client(world.alice).post(
        "/api/referrals/", new_referral_body(world), format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    referral = Referral.objects.get(reference=body["reference"])
    assert referral.state == State.DRAFT and referral.referrer == world.alice
    assert referral.patient.nhs_number == "9434765919"
    assert body["patient"]["nhs_number_formatted"] == "943 476 5919"
    assert body["history"]["onset"] == "3_to_12_months"
    assert [lesion["body_site"] for lesion in body["lesions"]] == ["Back"]
    assert body["lesions"][0]["image_set"]["missing"] == ["overview", "close_up", "dermoscopic"]
    assert any("consent" in p for p in body["problems"])
    assert {"action": "submit", "label": "Send to dermatology"} in body["allowed_actions"]


def test_it_creates_a_referral_for_a_known_patient_by_id(world):
    patient = make_patient(world.practice_a, world.alice)
    body = new_referral_body(world, patient=patient.pk, kind="ag")
    del body["patient_details"], body["referring_org"]  # alice works for one practice only
    response = api_client(world.alice).post("/api/referrals/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["patient"]["id"] == patient.pk
    assert response.json()["kind"] == "ag"
    [problem] = response.json()["problems"]
    assert problem.startswith("Lesion 1: add overview") and "dermoscopic" in problem


def test_it_rejects_an_nhs_number_that_fails_the_check_digit_and_saves_nothing(world):
    body = new_referral_body(world)
    body["patient_details"]["nhs_number"] = BAD_NHS_NUMBER
    counts = (Patient.objects.count(), Referral.objects.count(), Lesion.objects.count())
    response = api_client(world.alice).post("/api/referrals/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "NHS number 943 476 5918 fails the check digit."
    assert response.json()["errors"]["nhs_number"] == [
        "NHS number 943 476 5918 fails the check digit."
    ]
    assert (Patient.objects.count(), Referral.objects.count(), Lesion.objects.count()) == counts


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("service", "\u00b9"),  # superscript one: str.isdigit() says yes, int() says no
        ("service", "\u0663"),  # Arabic-Indic three
        ("nhs_number", "943476591\u00b9"),
    ],
)
def test_it_refuses_non_ascii_digits_with_a_400_not_a_crash(world, field, value):
    """Found by schemathesis: characters Python calls digits are not digits to an NHS system."""
    body = new_referral_body(world)
    if field == "nhs_number":
        body["patient_details"]["nhs_number"] = value
    else:
        body[field] = value
    counts = (Patient.objects.count(), Referral.objects.count())
    response = api_client(world.alice).post("/api/referrals/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert (Patient.objects.count(), Referral.objects.count()) == counts


def test_it_saves_no_patient_when_a_lesion_is_wrong(world):
    """All or nothing: the patient is not registered when the referral itself is refused."""
    body = new_referral_body(world, lesions=[{"body_site_code": "77568009", "size_mm": 900}])
    counts = (Patient.objects.count(), Referral.objects.count())
    response = api_client(world.alice).post("/api/referrals/", body, format="json")
    assert response.status_code == 400
    assert "lesions[1].size_mm" in response.json()["errors"]
    body = new_referral_body(world, history={"onset": "yesterday"})
    assert api_client(world.alice).post("/api/referrals/", body, format="json").status_code == 400
    body = new_referral_body(world, service=world.practice_b.ods_code)
    response = api_client(world.alice).post("/api/referrals/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "Hillview Medical Centre is not a dermatology service."
    assert (Patient.objects.count(), Referral.objects.count()) == counts


def test_it_refuses_a_referral_on_behalf_of_another_practice(world):
    body = new_referral_body(world, referring_org=world.practice_b.ods_code)
    response = api_client(world.alice).post("/api/referrals/", body, format="json")
    assert response.status_code == 403
    assert "Hillview Medical Centre" in response.json()["detail"]
    assert not Referral.objects.exists()


def test_it_asks_for_either_a_patient_id_or_details(world):
    body = new_referral_body(world, patient=1)
    response = api_client(world.alice).post("/api/referrals/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "patient": ["Give either patient (an id) or patient_details, not both."]
    }


def test_it_lists_referrals_with_filters_and_audits_the_read(world):
    draft = make_referral(world)
    usc = make_referral(world, state=State.AWAITING_REVIEW, kind="usc")
    make_referral(world, referrer=world.bob)
    client = api_client(world.alice)
    body = client.get("/api/referrals/").json()
    assert body["count"] == 2
    assert {r["reference"] for r in body["results"]} == {draft.reference, usc.reference}
    body = client.get("/api/referrals/", {"kind": "usc"}).json()
    assert [r["reference"] for r in body["results"]] == [usc.reference]
    assert body["results"][0]["breach_status"] == "ok"
    body = client.get("/api/referrals/", {"state": "draft"}).json()
    assert [r["reference"] for r in body["results"]] == [draft.reference]
    assert client.get("/api/referrals/", {"state": "lost"}).status_code == 400
    event = AuditEvent.objects.filter(action="referral.list", actor_id=world.alice.pk).last()
    assert event is not None and event.detail["references"] == [draft.reference]


def test_it_keeps_the_number_of_queries_flat_as_the_page_grows(
    world, django_assert_max_num_queries
):
    """Lists, and a referral with its lesions and images, cost the same number of queries
    whether they hold one item or many (select_related/prefetch_related, one audit event)."""
    alice, derek = api_client(world.alice), api_client(world.derek)
    sent = make_referral(world, state=State.AWAITING_REVIEW)
    draft = make_referral(world)
    services.post_message(sent, user=world.derek, body="First question")
    urls = [
        "/api/referrals/",
        "/api/patients/",
        f"/api/referrals/{sent.reference}/messages/",
        f"/api/referrals/{draft.reference}/",
    ]
    baseline = {}
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            assert alice.get(url).status_code == 200
        baseline[url] = len(queries.captured_queries)
    for i in range(6):
        make_referral(world, images=False)
        services.post_message(sent, user=world.derek, body=f"Question {i}")
    for _ in range(3):
        lesion = services.add_lesion(draft, user=world.alice, body_site_code="89545001")
        for image_type in ("overview", "close_up"):
            attach_ready_image(lesion, image_type, world.alice)
    for url in urls:
        with django_assert_max_num_queries(baseline[url]):
            assert alice.get(url).status_code == 200
    assert alice.get("/api/referrals/").json()["count"] == 8
    assert len(alice.get(f"/api/referrals/{draft.reference}/").json()["lesions"]) == 4
    assert derek.get(f"/api/referrals/{sent.reference}/messages/").json()["count"] == 7


def test_it_shows_a_referral_with_its_clocks_outcome_and_messages(world):
    referral = make_referral(world, state=State.TRIAGED, kind="usc")
    body = api_client(world.alice).get(f"/api/referrals/{referral.reference}/").json()
    assert body["state"] == "triaged" and body["kind"] == "usc"
    assert body["due_at"] and body["submitted_at"]
    assert body["breach_status"] == "ok"  # the FDS clock runs until the patient is told
    assert body["outcome"]["diagnosis"] == "Likely melanocytic naevus"  # until histology
    assert body["outcome"]["pathway_decision"] == "discharge"
    assert [i["status"] for i in body["lesions"][0]["images"]] == ["ready"] * 3
    assert body["lesions"][0]["images"][0]["quality_warnings"] == []
    assert body["exclusions"] == []
    assert body["allowed_actions"] == []  # closing is the service's (patient not told yet)
    assert AuditEvent.objects.filter(action="referral.view", object_id=str(referral.pk)).exists()


def test_it_offers_the_actions_this_user_may_take(world):
    referral = make_referral(world, state=State.AWAITING_REVIEW, kind="usc")
    derek = api_client(world.derek).get(f"/api/referrals/{referral.reference}/").json()
    assert [a["action"] for a in derek["allowed_actions"]] == ["claim", "patient-told"]
    alice = api_client(world.alice).get(f"/api/referrals/{referral.reference}/").json()
    assert [a["action"] for a in alice["allowed_actions"]] == ["withdraw", "downgrade"]


def test_it_edits_a_draft_and_refuses_to_edit_a_sent_referral(world):
    draft = make_referral(world)
    client = api_client(world.alice)
    response = client.patch(
        f"/api/referrals/{draft.reference}/",
        {"clinical_question": "Is this a BCC?", "history": {"itch": "yes"}},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["clinical_question"] == "Is this a BCC?"
    assert response.json()["history"]["itch"] == "yes"
    sent = make_referral(world, state=State.AWAITING_REVIEW)
    response = client.patch(f"/api/referrals/{sent.reference}/", {"kind": "ag"}, format="json")
    assert response.status_code == 409
    assert "can no longer be edited" in response.json()["detail"]
    assert Referral.objects.get(pk=sent.pk).kind == "ras"


def test_it_adds_a_lesion_to_a_draft(world):
    draft = make_referral(world)
    response = api_client(world.alice).post(
        f"/api/referrals/{draft.reference}/lesions/",
        {"body_site_code": "89545001", "laterality": "right", "size_mm": 4.5},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["number"] == 2 and response.json()["body_site"] == "Face"
    assert response.json()["size_mm"] == 4.5
    response = api_client(world.alice).post(
        f"/api/referrals/{draft.reference}/lesions/", {"body_site_code": "1"}, format="json"
    )
    assert response.status_code == 400
    assert draft.lesions.count() == 2


def test_it_accepts_an_upload_for_processing_and_reports_its_status(world):
    draft = make_referral(world, images=False)
    client = api_client(world.alice)
    upload = SimpleUploadedFile(
        "close.jpg", lesion_photo(640, 480, seed=3, kind="close_up"), content_type="image/jpeg"
    )
    response = client.post(
        f"/api/referrals/{draft.reference}/lesions/1/images/",
        {"file": upload, "image_type": "close_up"},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    image_id = response.json()["id"]
    assert response.json()["status"] == "processing"
    body = client.get(f"/api/images/{image_id}/").json()
    assert body["status"] == "processing" and body["referral"] == draft.reference
    assert AuditEvent.objects.filter(action="image.status", object_id=str(image_id)).exists()
    response = client.delete(f"/api/images/{image_id}/")
    assert response.status_code == 204
    assert not LesionImage.objects.filter(pk=image_id).exists()


def test_it_rejects_an_upload_that_is_not_a_photo_and_keeps_nothing(world):
    draft = make_referral(world, images=False)
    empty = SimpleUploadedFile("x.jpg", b"", content_type="image/jpeg")
    response = api_client(world.alice).post(
        f"/api/referrals/{draft.reference}/lesions/1/images/",
        {"file": empty, "image_type": "close_up"},
        format="multipart",
    )
    assert response.status_code == 400
    response = api_client(world.alice).post(
        f"/api/referrals/{draft.reference}/lesions/9/images/",
        {"image_type": "close_up"},
        format="multipart",
    )
    assert response.status_code == 404
    assert not LesionImage.objects.exists()


def test_it_will_not_delete_an_image_that_informed_a_decision(world):
    referral = make_referral(world, state=State.TRIAGED)
    image = LesionImage.objects.filter(lesion__referral=referral).first()
    assert image is not None and image.status == ImageStatus.READY
    response = api_client(world.alice).delete(f"/api/images/{image.pk}/")
    assert response.status_code == 409
    assert LesionImage.objects.filter(pk=image.pk).exists()


def test_it_posts_and_lists_messages(world):
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    response = api_client(world.derek).post(
        f"/api/referrals/{referral.reference}/messages/",
        {"body": "Any family history?"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["organisation"] == "City Hospital Dermatology"
    body = api_client(world.alice).get(f"/api/referrals/{referral.reference}/messages/").json()
    assert [m["body"] for m in body["results"]] == ["Any family history?"]
    response = api_client(world.alice).post(
        f"/api/referrals/{referral.reference}/messages/", {"body": "  "}, format="json"
    )
    assert response.status_code == 400


def test_it_answers_404_for_an_outcome_not_yet_recorded(world):
    referral = make_referral(world, state=State.IN_REVIEW)
    response = api_client(world.alice).get(f"/api/referrals/{referral.reference}/outcome/")
    assert response.status_code == 404
    done = make_referral(world, state=State.ADVICE_GIVEN, kind="ag")
    response = api_client(world.alice).get(f"/api/referrals/{done.reference}/outcome/")
    assert response.status_code == 200
    assert response.json()["pathway_decision"] == "advice"


@pytest.mark.parametrize(
    ("state", "kind", "who", "action", "body", "to_state"),
    [
        ("awaiting_review", "ras", "derek", "claim", {}, "in_review"),
        ("in_review", "ras", "derek", "release", {}, "awaiting_review"),
        ("in_review", "ras", "derek", "request-info", {"question": "Size?"}, "more_info_requested"),
        ("more_info_requested", "ras", "alice", "reply-info", {"body": "7 mm"}, "awaiting_review"),
        ("in_review", "ag", "derek", "convert", {"to_kind": "usc"}, "converted"),
        ("awaiting_review", "ras", "alice", "withdraw", {"reason": "Seen privately"}, "withdrawn"),
        ("advice_given", "ag", "alice", "close", {}, "closed"),
        (
            "awaiting_review",
            "usc",
            "alice",
            "downgrade",
            {"to_kind": "ras", "reason": "Benign"},
            "awaiting_review",
        ),
    ],
)
def test_it_runs_each_workflow_action(world, state, kind, who, action, body, to_state):
    referral = make_referral(world, state=state, kind=kind)
    response = api_client(getattr(world, who)).post(
        f"/api/referrals/{referral.reference}/{action}/", body, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == to_state
    assert Referral.objects.get(pk=referral.pk).state == to_state


def test_it_records_advice_and_when_the_patient_was_told(world):
    outcome = {
        "diagnosis_code": "400182000",
        "management_plan": "Reassure",
        "advice_to_referrer": "Benign",
        "patient_explanation": "A harmless mole.",
    }
    ag = make_referral(world, state=State.IN_REVIEW, kind="ag")
    response = api_client(world.derek).post(
        f"/api/referrals/{ag.reference}/advice/", outcome, format="json"
    )
    assert response.status_code == 200 and response.json()["state"] == "advice_given"
    usc = make_referral(world, state=State.TRIAGED, kind="usc")
    assert usc.submitted_at is not None
    told = {"told_at": usc.submitted_at.isoformat(), "method": "letter"}
    response = api_client(world.derek).post(
        f"/api/referrals/{usc.reference}/patient-told/", told, format="json"
    )
    assert response.status_code == 200
    assert response.json()["patient_told_method"] == "letter"
    assert response.json()["breach_status"] == ""


def test_it_refuses_actions_out_of_turn_with_a_clear_reason(world):
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    response = api_client(world.alice).post(f"/api/referrals/{referral.reference}/claim/")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only a dermatologist of the service can start review."
    denied = AuditEvent.objects.get(action="access.denied", actor_id=world.alice.pk)
    assert denied.object_id == referral.reference
    assert denied.detail["reason"] == "Only a dermatologist of the service can start review."
    response = api_client(world.derek).post(f"/api/referrals/{referral.reference}/release/")
    assert response.status_code == 409
    response = api_client(world.derek).post(
        f"/api/referrals/{referral.reference}/triage/", {"diagnosis_code": "nope"}, format="json"
    )
    assert response.status_code == 400
    # The decision may be left out (it follows the most urgent lesion); the code may not be bad.
    assert set(response.json()["errors"]) >= {"diagnosis_code"}
    assert Referral.objects.get(pk=referral.pk).state == State.AWAITING_REVIEW


def test_it_submits_only_a_complete_draft(world):
    incomplete = make_referral(world, images=False)
    response = api_client(world.alice).post(f"/api/referrals/{incomplete.reference}/submit/")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("This referral cannot be sent yet")
    complete = make_referral(world)
    response = api_client(world.alice).post(f"/api/referrals/{complete.reference}/submit/")
    assert response.status_code == 200
    assert response.json()["state"] in ("submitted", "awaiting_review")


def test_it_registers_lists_and_shows_patients_and_records_consent(world):
    client = api_client(world.alice)
    details = new_referral_body(world)["patient_details"]
    response = client.post("/api/patients/", details, format="json")
    assert response.status_code == 201, response.json()
    patient_id = response.json()["id"]
    assert response.json()["registered_practice"] == "A81001"
    assert response.json()["consents"] == {
        "direct_care": False,
        "teaching": False,
        "research": False,
    }
    again = client.post("/api/patients/", details, format="json")
    assert again.status_code == 200 and again.json()["id"] == patient_id
    wrong_dob = client.post(
        "/api/patients/", {**details, "date_of_birth": "1970-01-01"}, format="json"
    )
    assert wrong_dob.status_code == 400
    response = client.post(
        f"/api/patients/{patient_id}/consents/",
        {"scope": "direct_care", "granted": True},
        format="json",
    )
    assert response.status_code == 201 and response.json()["granted"] is True
    body = client.get(f"/api/patients/{patient_id}/").json()
    assert body["consents"]["direct_care"] is True
    assert body["consent_history"][0]["scope"] == "direct_care"
    assert [p["id"] for p in client.get("/api/patients/").json()["results"]] == [patient_id]
    assert AuditEvent.objects.filter(action="patient.view", object_id=str(patient_id)).exists()


def test_it_rejects_a_bad_patient_and_saves_nothing(world):
    details = dict(new_referral_body(world)["patient_details"], nhs_number=BAD_NHS_NUMBER)
    response = api_client(world.alice).post("/api/patients/", details, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "NHS number 943 476 5918 fails the check digit."
    response = api_client(world.alice).post(
        "/api/patients/", dict(details, nhs_number="9434765919", email=""), format="json"
    )
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    assert not Patient.objects.exists() and not Consent.objects.exists()


@pytest.mark.parametrize("path", ["/api/nothing-here/", "/api/patients/%0A%C2%BBx/consents/"])
def test_it_answers_an_unknown_api_address_in_json(world, path):
    """Found by schemathesis: an address with an encoded newline fell through to the HTML 404."""
    response = api_client(world.alice).post(path, {}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"] == "There is no such API endpoint."
