"""A laboratory's DiagnosticReport in, a stored histology result out (issue #14 item 4).

``receive_report`` reads the FHIR resource (interop/fhir/histology.py), finds the lesion by
the biopsy request identifier among the requests this user's service owns (another
organisation's identifier is unknown here, as one that does not exist), and records it through
the referral app's histology service, which checks the role, audits, and is idempotent on the
report's identifier."""

from __future__ import annotations

from typing import Any

from dermbridge.accounts.models import User
from dermbridge.audit.services import record
from dermbridge.interop.fhir.histology import ReportProblems, read_report, report_resource
from dermbridge.referrals import histology
from dermbridge.referrals.models import HistologyResult, HistologySource


def receive_report(data: Any, *, user: User) -> tuple[histology.Recorded, dict[str, Any]]:
    """Record the report; (the recorded result, the stored result as a DiagnosticReport)."""
    fields = read_report(data)
    request = histology.find_request(fields["biopsy_request_id"], user)
    if request is None:
        raise ReportProblems(
            [
                (
                    "DiagnosticReport.basedOn[0].identifier.value",
                    f"No biopsy request {fields['biopsy_request_id']} of your service is known "
                    "here: check the identifier on the request form.",
                )
            ]
        )
    recorded = histology.record_result(
        request,
        user=user,
        data=fields["data"],
        report_system=fields["report_system"],
        report_identifier=fields["report_identifier"],
        source=HistologySource.FHIR,
    )
    return recorded, resource_for(recorded.result)


def resource_for(result: HistologyResult) -> dict[str, Any]:
    patient = result.lesion.referral.patient_id
    return report_resource(
        result,
        subject=f"Patient/{patient}",
        based_on=f"ServiceRequest/{result.lesion.referral.reference}",
    )


def read_report_of(result_id: int, *, user: User) -> dict[str, Any] | None:
    """One stored result as FHIR, if this user may see its referral (the read is audited)."""
    result = HistologyResult.objects.select_related("lesion__referral").filter(pk=result_id).first()
    if result is None or not result.lesion.referral.is_visible_to(user):
        return None
    record(
        user,
        "histology.view",
        result,
        organisation_id=result.lesion.referral.service_id,
        detail={"via": "fhir"},
    )
    return resource_for(result)
