"""A referral as a FHIR R4 Bundle: every resource valid, every reference resolving."""

from __future__ import annotations

from collections import Counter

import pytest
from fhir.resources.R4B.bundle import Bundle

from dermbridge.audit.models import AuditEvent
from dermbridge.interop import codes, fhir
from dermbridge.interop.services import fhir_bundle
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.testing import World, make_referral


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_it_maps_a_triaged_usc_referral_to_a_valid_bundle(world: World, triaged: Referral) -> None:
    """GIVEN a USC referral triaged with an AI assessment, a message and an outcome
    WHEN it is mapped to FHIR
    THEN the Bundle validates, holds every resource type the referral needs, and every
    reference (and Media -> Binary link) resolves inside it."""
    bundle = fhir_bundle(triaged, user=world.derek)
    Bundle.model_validate(bundle)
    assert fhir.unresolved_references(bundle) == []
    kinds = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    for kind in (
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "ServiceRequest",
        "Task",
        "BodyStructure",
        "QuestionnaireResponse",
        "Consent",
    ):
        assert kinds[kind] >= 1, kind
    assert kinds["Media"] == kinds["Binary"] == 3
    assert kinds["Observation"] == 2  # the AI pre-read and the dermatologist's diagnosis
    assert kinds["Communication"] == 3  # advice, the patient's explanation, alice's message
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])


def test_it_identifies_patient_and_organisations_by_nhs_number_and_ods(
    world: World, triaged: Referral
) -> None:
    bundle = fhir_bundle(triaged, user=world.derek)
    (patient,) = resources(bundle, "Patient")
    (identifier,) = patient["identifier"]
    assert (identifier["system"], identifier["value"]) == (
        codes.NHS_NUMBER_SYSTEM,
        triaged.patient.nhs_number,
    )
    assert identifier["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "02"
    ods = {o["identifier"][0]["value"] for o in resources(bundle, "Organization")}
    assert {"A81001", "RXX01"} <= ods
    assert all(
        o["identifier"][0]["system"] == codes.ODS_SYSTEM for o in resources(bundle, "Organization")
    )


def test_it_maps_usc_priority_state_site_and_laterality(world: World, triaged: Referral) -> None:
    """GIVEN a triaged USC referral of a lesion on the left back
    THEN the ServiceRequest is completed with priority asap (e-RS 'two week wait'), the Task
    carries the workflow state, and the BodyStructure the SNOMED site and laterality."""
    bundle = fhir_bundle(triaged, user=world.derek)
    (sr,) = resources(bundle, "ServiceRequest")
    assert (sr["id"], sr["status"], sr["priority"]) == (triaged.reference, "completed", "asap")
    assert sr["bodySite"][0]["coding"][0]["code"] == "77568009"
    assert {"code": "usc", "display": "Urgent suspected cancer", "system": codes.KIND_SYSTEM} in [
        cd for cat in sr["category"] for cd in cat["coding"]
    ]
    (task,) = resources(bundle, "Task")
    assert task["status"] == "completed"
    assert task["businessStatus"]["coding"][0]["code"] == State.TRIAGED
    (site,) = resources(bundle, "BodyStructure")
    assert site["location"]["coding"][0] == {
        "system": codes.SNOMED,
        "code": "77568009",
        "display": "Back",
    }
    assert site["locationQualifier"][0]["coding"][0]["code"] == "7771000"  # left


def test_it_describes_each_image_with_type_size_and_hash(world: World, triaged: Referral) -> None:
    bundle = fhir_bundle(triaged, user=world.derek)
    binaries = {
        e["fullUrl"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Binary"
    }
    import base64

    for media in resources(bundle, "Media"):
        content = media["content"]
        data = base64.b64decode(binaries[content["url"]]["data"])
        assert content["contentType"] == "image/jpeg"
        assert content["size"] == len(data)
        assert content["hash"] == fhir.attachment_hash(data)
    views = {m["view"]["coding"][0]["code"] for m in resources(bundle, "Media")}
    assert views == {"overview", "close_up", "dermoscopic"}


def test_it_keeps_the_ai_caveat_and_the_outcome_diagnosis(world: World, triaged: Referral) -> None:
    """GIVEN an AI 'high' band and a dermatologist's melanoma diagnosis
    THEN the AI Observation is preliminary and carries the decision-support caveat, and the
    diagnosis Observation is final with the SNOMED code."""
    bundle = fhir_bundle(triaged, user=world.derek)
    by_status = {o["status"]: o for o in resources(bundle, "Observation")}
    ai = by_status["preliminary"]
    assert ai["valueCodeableConcept"]["coding"][0]["code"] == "high"
    assert "not a diagnosis" in ai["note"][0]["text"]
    assert by_status["final"]["valueCodeableConcept"]["coding"][0]["code"] == "372244006"
    texts = {c["payload"][0]["contentString"] for c in resources(bundle, "Communication")}
    assert "Seen in USC clinic." in texts


def test_it_maps_a_draft_without_outcome_and_an_abstention(world: World) -> None:
    from dermbridge.interop.tests.conftest import with_assessment

    referral = make_referral(world, state=State.DRAFT, kind=ReferralKind.ADVICE)
    with_assessment(referral, abstained=True)
    bundle = fhir_bundle(referral, user=world.alice)
    assert fhir.unresolved_references(bundle) == []
    (sr,) = resources(bundle, "ServiceRequest")
    assert (sr["status"], sr["priority"]) == ("draft", "routine")
    (ai,) = resources(bundle, "Observation")
    assert ai["dataAbsentReason"]["text"] == "Image out of distribution"
    assert "valueCodeableConcept" not in ai


def test_it_audits_the_bundle_and_each_image_read(world: World, triaged: Referral) -> None:
    before = AuditEvent.objects.count()
    fhir_bundle(triaged, user=world.derek)
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)[before:])
    assert actions.count("image.view") == 3
    assert actions[-1] == "interop.fhir_bundle"


def test_it_rejects_a_resource_that_breaks_the_model() -> None:
    with pytest.raises(ValueError, match="birthDate"):
        fhir.validated({"resourceType": "Patient", "birthDate": "17/05/1960"})
