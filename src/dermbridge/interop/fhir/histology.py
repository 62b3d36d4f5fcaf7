"""Histology as FHIR R4 (issue #14 items 4 and 6): a pathology DiagnosticReport with its
Observations, read from a laboratory and written for the Bundle and the REST API.

In. ``POST /fhir/DiagnosticReport`` a DiagnosticReport, its Observations ``contained``:

- ``identifier[0]`` (system + value): the laboratory's report; a report sent again is the same
  result (idempotent);
- ``basedOn[0].identifier.value``: the biopsy request identifier DermBridge issued with the
  lesion's outcome (``BX-…``), which matches the report to the lesion;
- ``status``: final, amended or corrected;
- ``conclusionCode[0]``: the SNOMED CT histology diagnosis, one of DermBridge's coded list;
- ``effectiveDateTime`` (or ``issued``): the report's date; ``conclusion``: the report's text;
- ``performer[0].display``: the laboratory;
- Observations coded in ``HISTOLOGY_OBS`` (a project code system, until a UK pathology dataset
  code is agreed): ``margin-status`` (valueCodeableConcept: clear, involved, not-assessable) and
  ``margin-distance`` (valueQuantity in mm).

Every problem is reported with the FHIRPath of the element at fault (``ReportProblems``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from pydantic import ValidationError

from dermbridge.interop import codes as c
from dermbridge.interop.fhir.resources import _iso
from dermbridge.referrals.models import HistologyResult, Margins

HISTOLOGY_OBS = f"{c.DERMBRIDGE_CS}/histology-observation"
MARGIN_STATUS = f"{c.DERMBRIDGE_CS}/margin-status"
BIOPSY_REQUEST_SYSTEM = f"{c.DERMBRIDGE_ID}/biopsy-request"
# LOINC 60567-5 "Comprehensive pathology report panel" (HL7 FHIR examples use it for a
# pathology DiagnosticReport); category LP7839-6 "Pathology" (LOINC part).
REPORT_CODE = {"system": "http://loinc.org", "code": "60567-5", "display": "Pathology report"}
CATEGORY = {"system": "http://loinc.org", "code": "LP7839-6", "display": "Pathology"}
MARGIN_CODES = {
    "clear": Margins.CLEAR,
    "involved": Margins.INVOLVED,
    "not-assessable": Margins.NOT_ASSESSABLE,
}
FINAL = ("final", "amended", "corrected")


class ReportProblems(Exception):
    """The report cannot be recorded; ``issues`` are (FHIRPath, message) pairs."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{w}: {m}" for w, m in issues))
        self.issues = issues


def _codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [x for x in concept.get("coding") or [] if isinstance(x, Mapping)]


def read_report(data: Any) -> dict[str, Any]:
    """The report's fields; ReportProblems naming each element at fault."""
    if not isinstance(data, Mapping) or data.get("resourceType") != "DiagnosticReport":
        raise ReportProblems([("DiagnosticReport", "POST a FHIR DiagnosticReport (JSON).")])
    try:
        DiagnosticReport.model_validate(data)
    except ValidationError as exc:
        raise ReportProblems(
            [
                (
                    "DiagnosticReport." + ".".join(str(p) for p in err["loc"] if p != "__root__"),
                    err["msg"],
                )
                for err in exc.errors()
            ]
        ) from None
    issues: list[tuple[str, str]] = []
    identifier = (data.get("identifier") or [{}])[0]
    system, value = str(identifier.get("system") or ""), str(identifier.get("value") or "")
    if not system or not value:
        issues.append(
            ("DiagnosticReport.identifier[0]", "Give the laboratory's report system and value.")
        )
    based = (data.get("basedOn") or [{}])[0]
    request_id = str((based.get("identifier") or {}).get("value") or "")
    if not request_id:
        issues.append(
            (
                "DiagnosticReport.basedOn[0].identifier.value",
                "Give the biopsy request identifier DermBridge issued (BX-…).",
            )
        )
    if data.get("status") not in FINAL:
        issues.append(
            ("DiagnosticReport.status", "Only a final, amended or corrected report is recorded.")
        )
    snomed = [
        x for x in _codings((data.get("conclusionCode") or [{}])[0]) if x.get("system") == c.SNOMED
    ]
    if not snomed:
        issues.append(
            ("DiagnosticReport.conclusionCode[0]", "Give the histology diagnosis as SNOMED CT.")
        )
    performer = (data.get("performer") or [{}])[0]
    observations = {
        f"#{o.get('id')}": o
        for o in data.get("contained") or []
        if isinstance(o, Mapping) and o.get("resourceType") == "Observation"
    }
    margins, margin_mm = "", None
    for index, ref in enumerate(data.get("result") or []):
        obs = observations.get(str((ref or {}).get("reference") or ""))
        where = f"DiagnosticReport.result[{index}]"
        if obs is None:
            issues.append((where, "Each result must reference a contained Observation (#id)."))
            continue
        kind = next(
            (x.get("code") for x in _codings(obs.get("code")) if x.get("system") == HISTOLOGY_OBS),
            "",
        )
        if kind == "margin-status":
            code = next(
                (
                    x.get("code")
                    for x in _codings(obs.get("valueCodeableConcept"))
                    if x.get("system") == MARGIN_STATUS
                ),
                "",
            )
            if code not in MARGIN_CODES:
                issues.append(
                    (f"{where}.valueCodeableConcept", "Margins: clear, involved or not-assessable.")
                )
            else:
                margins = MARGIN_CODES[code]
        elif kind == "margin-distance":
            quantity = obs.get("valueQuantity") or {}
            if quantity.get("code", quantity.get("unit")) != "mm" or quantity.get("value") is None:
                issues.append((f"{where}.valueQuantity", "Give the narrowest margin in mm."))
            else:
                margin_mm = quantity["value"]
    if not margins:
        issues.append(
            (
                "DiagnosticReport.result",
                f"Include a margin-status Observation (code system {HISTOLOGY_OBS}).",
            )
        )
    if issues:
        raise ReportProblems(issues)
    return {
        "report_system": system,
        "report_identifier": value,
        "biopsy_request_id": request_id,
        "data": {
            "morphology_code": str(snomed[0].get("code") or ""),
            "reported_on": data.get("effectiveDateTime") or data.get("issued") or "",
            "report_text": data.get("conclusion") or "",
            "margins": margins,
            "margin_mm": margin_mm,
            "laboratory": performer.get("display") or "",
        },
    }


def report_resources(
    result: HistologyResult,
    *,
    subject: str,
    based_on: str = "",
    observation_urls: tuple[str, str] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The stored result as a DiagnosticReport and its margin Observations: contained in the
    report (the REST API), or -- given ``observation_urls`` (margin status, distance) -- as
    separate resources for a Bundle whose references must all resolve."""
    status_code = {v: k for k, v in MARGIN_CODES.items()}[Margins(result.margins)]
    observations: list[dict[str, Any]] = [
        {
            "resourceType": "Observation",
            "id": f"histology-{result.pk}-margins",
            "status": "final",
            "code": {"coding": [{"system": HISTOLOGY_OBS, "code": "margin-status"}]},
            "subject": {"reference": subject},
            "valueCodeableConcept": {
                "coding": [{"system": MARGIN_STATUS, "code": status_code}],
                "text": result.get_margins_display(),
            },
        }
    ]
    if result.margin_mm is not None:
        observations.append(
            {
                "resourceType": "Observation",
                "id": f"histology-{result.pk}-margin-distance",
                "status": "final",
                "code": {"coding": [{"system": HISTOLOGY_OBS, "code": "margin-distance"}]},
                "subject": {"reference": subject},
                "valueQuantity": {
                    "value": float(result.margin_mm),
                    "unit": "mm",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm",
                },
            }
        )
    if observation_urls is None:
        references = [f"#{o['id']}" for o in observations]
    else:
        references = list(observation_urls[: len(observations)])
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": f"histology-{result.pk}",
        "identifier": [{"system": result.report_system, "value": result.report_identifier}],
        "basedOn": [
            {
                **({"reference": based_on} if based_on else {}),
                "identifier": {"system": BIOPSY_REQUEST_SYSTEM, "value": result.biopsy_request_id},
            }
        ],
        "status": "final",
        "category": [{"coding": [CATEGORY]}],
        "code": {"coding": [REPORT_CODE]},
        "subject": {"reference": subject},
        "effectiveDateTime": result.reported_on.isoformat(),
        "issued": _iso(result.recorded_at),
        "performer": [{"display": result.laboratory}],
        "result": [{"reference": r} for r in references],
        "conclusion": result.report_text,
        "conclusionCode": [
            {
                "coding": [
                    {
                        "system": c.SNOMED,
                        "code": result.morphology_code,
                        "display": result.morphology_term,
                    }
                ]
            }
        ],
    }
    if observation_urls is None:
        report["contained"] = observations
        return report, []
    return report, observations


def report_resource(result: HistologyResult, *, subject: str, based_on: str = "") -> dict[str, Any]:
    """The stored result as one DiagnosticReport, its Observations contained (REST API)."""
    return report_resources(result, subject=subject, based_on=based_on)[0]
