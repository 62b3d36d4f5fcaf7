"""Every API endpoint keeps one organisation's patients from another's, and from strangers."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dermbridge.accounts.models import Role, User
from dermbridge.audit.models import AuditEvent
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.patients.models import Consent, Patient
from dermbridge.referrals.models import Lesion, Message, Referral, State
from dermbridge.referrals.tests.api_support import api_client
from dermbridge.testing import World, make_referral, make_user

OUTCOME = {
    "diagnosis_code": "400182000",
    "management_plan": "Reassure",
    "advice_to_referrer": "Benign",
    "patient_explanation": "A harmless mole.",
}
ACTION_BODIES: dict[str, dict[str, Any]] = {
    "submit": {},
    "claim": {},
    "release": {},
    "request-info": {"question": "How long?"},
    "reply-info": {"body": "Two years"},
    "advice": OUTCOME,
    "triage": {**OUTCOME, "pathway_decision": "discharge"},
    "convert": {"to_kind": "usc"},
    "withdraw": {"reason": "Not needed"},
    "close": {},
    "downgrade": {"to_kind": "ras", "reason": "Benign"},
    "patient-told": {"told_at": "2026-01-01T10:00:00Z", "method": "letter"},
}


def requests_for(draft: Referral, sent: Referral) -> list[tuple[str, str, Any]]:
    """(method, path, body) for every endpoint that names one of alice's objects."""
    image = LesionImage.objects.filter(lesion__referral=draft).first()
    assert image is not None
    patient = draft.patient.pk
    calls: list[tuple[str, str, Any]] = [
        ("get", f"/api/patients/{patient}/", None),
        ("post", f"/api/patients/{patient}/consents/", {"scope": "research", "granted": False}),
        ("get", f"/api/images/{image.pk}/", None),
        ("delete", f"/api/images/{image.pk}/", None),
        ("post", f"/api/images/{image.pk}/keep/", None),
    ]
    for ref in (draft.reference, sent.reference):
        calls += [
            ("get", f"/api/referrals/{ref}/", None),
            ("patch", f"/api/referrals/{ref}/", {"clinical_question": "Changed?"}),
            ("post", f"/api/referrals/{ref}/lesions/", {"body_site_code": "89545001"}),
            ("get", f"/api/referrals/{ref}/messages/", None),
            ("post", f"/api/referrals/{ref}/messages/", {"body": "Hello"}),
            ("get", f"/api/referrals/{ref}/outcome/", None),
            ("upload", f"/api/referrals/{ref}/lesions/1/images/", None),
            ("dicom", f"/api/referrals/{ref}/lesions/1/dicom/", None),
        ]
        calls += [
            ("post", f"/api/referrals/{ref}/{action}/", body)
            for action, body in ACTION_BODIES.items()
        ]
    return calls


def send(client: Any, method: str, path: str, body: Any) -> Any:
    if method == "upload":
        photo = SimpleUploadedFile(
            "p.jpg", lesion_photo(96, 72, seed=1, kind="close_up"), content_type="image/jpeg"
        )
        return client.post(path, {"file": photo, "image_type": "close_up"}, format="multipart")
    if method == "dicom":
        return client.post(path, {"file": io.BytesIO(b"DICM")}, format="multipart")
    return getattr(client, method)(path, body, format="json")


def snapshot() -> tuple[int, ...]:
    return (
        Referral.objects.count(),
        Lesion.objects.count(),
        LesionImage.objects.count(),
        Message.objects.count(),
        Consent.objects.count(),
        Patient.objects.count(),
    )


@pytest.fixture
def alices(world: World) -> tuple[Referral, Referral]:
    draft = make_referral(world)
    sent = make_referral(world, state=State.ADVICE_GIVEN, kind="ag")
    return draft, sent


def outsider(world: World, persona: str) -> User:
    """bob (another practice), dora (another service's dermatologist), pat (an imaging hub the
    referrals were not sent through), or another service's administrator."""
    if persona == "other_admin":
        return make_user("olive", world.service_b, Role.SERVICE_ADMIN)
    return getattr(world, persona)  # type: ignore[no-any-return]


PERSONAS = ["bob", "dora", "pat", "other_admin"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_answers_404_to_another_organisation_and_changes_nothing(world, alices, persona):
    """GIVEN alice's draft and answered referral WHEN anyone of another organisation calls any
    endpoint naming them THEN 404, no patient data, no change."""
    draft, sent = alices
    user = outsider(world, persona)
    client = api_client(user)
    before = snapshot()
    secrets = [draft.patient.family_name, sent.patient.family_name, draft.patient.nhs_number]
    for method, path, body in requests_for(draft, sent):
        response = send(client, method, path, body)
        assert response.status_code == 404, (method, path, response.content)
        assert not any(s.encode() in response.content for s in secrets), (method, path)
    assert snapshot() == before
    assert Referral.objects.get(pk=sent.pk).state == State.ADVICE_GIVEN
    # Every refusal is in the audit trail (OWASP ASVS 7.2.2), naming who asked for what.
    denied = AuditEvent.objects.filter(action="access.denied", actor_id=user.pk)
    assert denied.count() == len(requests_for(draft, sent))
    assert denied.filter(object_id=draft.reference).exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lists_nothing_of_another_organisation(world, alices, persona):
    client = api_client(outsider(world, persona))
    assert client.get("/api/referrals/").json()["count"] == 0
    assert client.get("/api/patients/").json()["count"] == 0


def test_a_dermatology_service_does_not_see_drafts(world, alices):
    draft, sent = alices
    client = api_client(world.derek)
    assert client.get(f"/api/referrals/{draft.reference}/").status_code == 404
    refs = [r["reference"] for r in client.get("/api/referrals/").json()["results"]]
    assert refs == [sent.reference]


def test_it_does_not_reveal_whether_another_practices_patient_exists(world, alices):
    """Naming alice's patient by id in bob's new referral reads exactly like an unknown id."""
    draft, _ = alices
    body = {"patient": draft.patient.pk, "kind": "ras", "service": world.service.ods_code}
    client = api_client(world.bob)
    theirs = client.post("/api/referrals/", body, format="json")
    unknown = client.post("/api/referrals/", {**body, "patient": 999_999}, format="json")
    assert theirs.status_code == unknown.status_code == 400
    assert theirs.json() == unknown.json()
    response = client.post(
        "/api/patients/",
        {
            "practice": world.practice_a.ods_code,
            "nhs_number": draft.patient.nhs_number,
            "given_name": "X",
            "family_name": "Y",
            "date_of_birth": "1960-05-17",
        },
        format="json",
    )
    assert response.status_code == 403
    assert draft.patient.family_name.encode() not in response.content


def test_anonymous_requests_get_401_everywhere(world, alices):
    draft, sent = alices
    client = api_client(None)
    before = snapshot()
    calls: list[tuple[str, str, Any]] = [
        ("get", "/api/referrals/", None),
        ("post", "/api/referrals/", {}),
        ("get", "/api/patients/", None),
        ("post", "/api/patients/", {}),
    ]
    for method, path, body in calls + requests_for(draft, sent):
        response = send(client, method, path, body)
        assert response.status_code == 401, (method, path)
        assert response["WWW-Authenticate"] == "Token"
    assert snapshot() == before


def test_a_revoked_or_made_up_token_is_refused(world):
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert client.get("/api/referrals/").status_code == 401
