"""Histology received as a FHIR R4 DiagnosticReport (issue #14 items 4 and 6): matched by the
biopsy request identifier, idempotent on the report's identifier, 400 naming the element at
fault, unknown to another organisation, refused to every other role; the stored report read
back is a valid R4 DiagnosticReport."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.diagnosticreport import DiagnosticReport

from dermbridge.audit.models import AuditEvent
from dermbridge.referrals.models import HistologyResult, Outcome
from dermbridge.referrals.tests.api_support import api_client
from dermbridge.referrals.tests.histology_support import biopsied, report, request_of
from dermbridge.testing import World

FHIR = "application/fhir+json"


def _post(user: Any, body: Any) -> Any:
    return api_client(user).post("/fhir/DiagnosticReport", body, format="json")


def _issues(response: Any) -> list[str]:
    return [i["diagnostics"] for i in response.json()["issue"]]


def test_a_report_is_matched_to_its_lesion_once(world: World) -> None:
    referral = biopsied(world)
    request_id = request_of(referral).biopsy_request_id or ""
    created = _post(world.derek, report(request_id))
    assert created.status_code == 201, created.json()
    body = created.json()
    DiagnosticReport.model_validate(body)  # what we store reads back as valid R4
    assert body["basedOn"][0]["identifier"]["value"] == request_id
    assert body["conclusionCode"][0]["coding"][0]["code"] == "254701007"
    result = HistologyResult.objects.get()
    assert (result.lesion.number, result.margins, str(result.margin_mm)) == (2, "clear", "2.5")
    assert result.laboratory == "City Hospital Cellular Pathology" and result.source == "fhir"
    assert Outcome.objects.get(referral=referral).histology_code == "254701007"
    again = _post(world.derek, report(request_id))
    assert again.status_code == 200 and HistologyResult.objects.count() == 1
    read = api_client(world.derek).get(created["Location"])
    assert read.status_code == 200 and read.json()["id"] == body["id"]
    assert AuditEvent.objects.filter(action="histology.view", actor_id=world.derek.pk).exists()


def test_a_bad_report_is_refused_naming_each_element(world: World) -> None:
    referral = biopsied(world)
    request_id = request_of(referral).biopsy_request_id or ""
    bad = _post(
        world.derek,
        report(
            request_id,
            status="preliminary",
            conclusionCode=[{"coding": [{"system": "http://loinc.org", "code": "x"}]}],
            result=[{"reference": "#nothing"}],
        ),
    )
    assert bad.status_code == 400 and bad["Content-Type"].startswith(FHIR)
    issues = _issues(bad)
    assert any(i.startswith("DiagnosticReport.status:") for i in issues)
    assert any(i.startswith("DiagnosticReport.conclusionCode[0]:") for i in issues)
    assert any(i.startswith("DiagnosticReport.result[0]:") for i in issues)
    invalid = _post(world.derek, {**report(request_id), "status": 7})
    assert invalid.status_code == 400 and any("status" in i for i in _issues(invalid))
    unmatched = _post(world.derek, report("BX-NOPE-1"))
    assert unmatched.status_code == 400
    assert _issues(unmatched)[0].startswith(
        "DiagnosticReport.basedOn[0].identifier.value: No biopsy request BX-NOPE-1"
    )
    wrong_code = _post(
        world.derek,
        report(
            request_id,
            conclusionCode=[{"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}],
        ),
    )
    assert wrong_code.status_code == 400
    assert any(i.startswith("morphology_code:") for i in _issues(wrong_code))
    assert not HistologyResult.objects.exists()


def test_nobody_else_sends_or_reads_a_report(world: World) -> None:
    referral = biopsied(world)
    request_id = request_of(referral).biopsy_request_id or ""
    # Another organisation's dermatologist: the request is unknown to her (as a wrong id).
    other = _post(world.dora, report(request_id))
    assert other.status_code == 400 and "No biopsy request" in _issues(other)[0]
    # The GP and the photographer may see the referral but not record histology.
    for user in (world.alice, world.pat):
        assert _post(user, report(request_id)).status_code in (400, 403)
    assert api_client(None).post(
        "/fhir/DiagnosticReport", report(request_id), format="json"
    ).status_code in (401, 403)
    assert not HistologyResult.objects.exists()
    created = _post(world.derek, report(request_id))
    location = created["Location"]
    for user in (world.dora, world.bob):
        assert api_client(user).get(location).status_code == 404
    assert api_client(None).get(location).status_code in (401, 403)


def test_the_bundle_carries_a_condition_per_lesion_and_the_histology(world: World) -> None:
    from fhir.resources.R4B.bundle import Bundle

    from dermbridge.interop import services
    from dermbridge.interop.fhir import unresolved_references

    referral = biopsied(world)
    request_id = request_of(referral).biopsy_request_id or ""
    assert _post(world.derek, report(request_id)).status_code == 201
    bundle = services.fhir_bundle(referral, user=world.derek)
    Bundle.model_validate(bundle)
    assert unresolved_references(bundle) == []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    conditions = {c["id"]: c for c in by_type["Condition"]}
    back = conditions[f"{referral.reference}-lesion-1-dx"]
    nose = conditions[f"{referral.reference}-lesion-2-dx"]
    assert back["code"]["coding"][0]["code"] == "400182000"
    assert back["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert "Management: Discharge" in back["note"][0]["text"]
    # The nose was called a naevus; histology said BCC: evidence, still provisional.
    assert nose["verificationStatus"]["coding"][0]["code"] == "provisional"
    (report_entry,) = by_type["DiagnosticReport"]
    assert report_entry["basedOn"][0]["identifier"]["value"] == request_id
    assert report_entry["conclusionCode"][0]["coding"][0]["code"] == "254701007"
    report_url = next(
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"
    )
    assert nose["evidence"][0]["detail"][0]["reference"] == report_url
    body_structures = {
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "BodyStructure"
    }
    assert nose["extension"][0]["valueReference"]["reference"] in body_structures
    margins = [o for o in by_type["Observation"] if o["id"].startswith("histology-")]
    assert {o["id"].rsplit("-", 1)[-1] for o in margins} == {"margins", "distance"}
