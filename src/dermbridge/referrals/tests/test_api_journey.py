"""A whole referral over the REST API, as a capture app and a dermatologist's system would."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from dermbridge.audit.services import verify_chain
from dermbridge.imaging.services import process_lesion_image
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.referrals.tests.api_support import api_client, new_referral_body


def test_it_carries_a_referral_from_capture_to_outcome(world, django_capture_on_commit_callbacks):
    """GIVEN a GP's capture app with a token
    WHEN it registers the patient with the referral, records consent, uploads real photos,
    and submits; and the dermatologist claims and triages it over the API
    THEN the GP reads the outcome, and every step is in an intact audit trail."""
    gp, derm = api_client(world.alice), api_client(world.derek)

    created = gp.post("/api/referrals/", new_referral_body(world), format="json")
    assert created.status_code == 201, created.json()
    ref = created.json()["reference"]
    patient_id = created.json()["patient"]["id"]
    consent = gp.post(
        f"/api/patients/{patient_id}/consents/",
        {"scope": "direct_care", "granted": True},
        format="json",
    )
    assert consent.status_code == 201

    image_ids = []
    for seed, image_type in enumerate(("overview", "close_up", "dermoscopic")):
        photo = SimpleUploadedFile(
            f"{image_type}.jpg",
            lesion_photo(1024, 768, seed=seed + 10, kind=image_type),
            content_type="image/jpeg",
        )
        form = {"file": photo, "image_type": image_type}
        if image_type == "dermoscopic":
            form["dermoscopy_mode"] = "contact_polarised"
        response = gp.post(f"/api/referrals/{ref}/lesions/1/images/", form, format="multipart")
        assert response.status_code == 202, response.json()
        assert response.json()["status"] == "processing"
        image_ids.append(response.json()["id"])

    # Still processing: the app is told why it cannot send yet.
    early = gp.post(f"/api/referrals/{ref}/submit/")
    assert early.status_code == 400
    assert "wait for images to finish processing" in early.json()["detail"]

    # A screenshot-sized copy sent by mistake.
    small = SimpleUploadedFile(
        "small.jpg", lesion_photo(400, 300, seed=3, kind="close_up"), content_type="image/jpeg"
    )
    response = gp.post(
        f"/api/referrals/{ref}/lesions/1/images/",
        {"file": small, "image_type": "close_up"},
        format="multipart",
    )
    small_id = response.json()["id"]

    # The imaging worker's job, run here directly.
    assert [process_lesion_image(i) for i in image_ids] == ["ready"] * 3
    assert process_lesion_image(small_id) == "rejected"
    for image_id in image_ids:
        image = gp.get(f"/api/images/{image_id}/").json()
        assert image["status"] == "ready" and image["width"] == 1024
        assert image["blocking_problems"] == []
        assert len(image["quality_warnings"]) == 1  # resolution below the recommended size
    rejected = gp.get(f"/api/images/{small_id}/").json()
    assert rejected["status"] == "failed"
    assert rejected["failure_reason"].startswith("The photo is too small")
    detail = gp.get(f"/api/referrals/{ref}/").json()
    assert detail["lesions"][0]["image_set"]["failed"] == 1
    assert gp.delete(f"/api/images/{small_id}/").status_code == 204
    # Each photo's warning (resolution) is kept by the photographer, or sending waits (issue #9).
    detail = gp.get(f"/api/referrals/{ref}/").json()
    assert len(detail["problems"]) == 3
    assert all("keep or retake" in p for p in detail["problems"])
    for image_id in image_ids:
        kept = gp.post(f"/api/images/{image_id}/keep/")
        assert kept.status_code == 200 and kept.json()["quality_kept_at"]
    detail = gp.get(f"/api/referrals/{ref}/").json()
    assert detail["problems"] == []
    assert detail["lesions"][0]["image_set"]["missing"] == []

    with django_capture_on_commit_callbacks(execute=True):
        submitted = gp.post(f"/api/referrals/{ref}/submit/")
    assert submitted.status_code == 200, submitted.json()
    assert gp.get(f"/api/referrals/{ref}/").json()["state"] == "awaiting_review"

    worklist = derm.get("/api/referrals/", {"state": "awaiting_review"}).json()
    assert [r["reference"] for r in worklist["results"]] == [ref]
    claimed = derm.post(f"/api/referrals/{ref}/claim/")
    assert claimed.status_code == 200 and claimed.json()["state"] == "in_review"
    assert [a["action"] for a in claimed.json()["allowed_actions"]] == [
        "release",
        "request-info",
        "triage",
    ]
    triaged = derm.post(
        f"/api/referrals/{ref}/triage/",
        {
            "diagnosis_code": "400182000",
            "management_plan": "No follow-up needed.",
            "advice_to_referrer": "Benign naevus; safety-net for change.",
            "patient_explanation": "This is a harmless mole.",
            "pathway_decision": "discharge",
        },
        format="json",
    )
    assert triaged.status_code == 200, triaged.json()
    assert triaged.json()["state"] == "triaged"

    outcome = gp.get(f"/api/referrals/{ref}/outcome/")
    assert outcome.status_code == 200
    assert outcome.json()["diagnosis"] == "Likely melanocytic naevus"  # until histology
    assert outcome.json()["pathway_decision"] == "discharge"
    final = gp.get(f"/api/referrals/{ref}/").json()
    assert all(i["informed_decision"] for i in final["lesions"][0]["images"])
    assert gp.delete(f"/api/images/{image_ids[0]}/").status_code == 409
    assert verify_chain().ok
