"""The FHIR R4 REST endpoints: parse, check who may see it, call one service, answer in FHIR JSON.

Authentication is the API's (DRF token or session). Anything another organisation owns is a
404 with an OperationOutcome, the same as something that does not exist, so ids reveal nothing.
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework import exceptions as drf_exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dermbridge.api.errors import record_access_denied
from dermbridge.core.errors import DomainError, NotFound, NotPermitted
from dermbridge.imaging.services import VIEWABLE, images_visible_to, read_derivative
from dermbridge.interop import fhir_scheduling, fhir_services, histology_services, services
from dermbridge.interop.fhir import FHIR_JSON, operation_outcome
from dermbridge.interop.fhir.histology import ReportProblems
from dermbridge.interop.fhir.importer import BundleProblems
from dermbridge.interop.fhir.resources import rest_patient_resource, rest_service_request_resource
from dermbridge.patients.services import patients_visible_to
from dermbridge.referrals.models import Referral
from dermbridge.referrals.services import view_referral

ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    413: "too-long",
}


class FhirJSONRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "fhir"


class FhirJSONParser(JSONParser):
    media_type = FHIR_JSON


def outcome_response(status: int, messages: list[str], severity: str = "error") -> Response:
    code = ISSUE_CODE.get(status, "processing")
    return Response(
        operation_outcome([(severity, code, m) for m in messages]),
        status=status,
        content_type=FHIR_JSON,
    )


class FhirNegotiation(DefaultContentNegotiation):
    """Always answer in FHIR JSON (Binary picks raw bytes itself): never a 406."""

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


class FhirView(APIView):
    renderer_classes = [FhirJSONRenderer, JSONRenderer]
    content_negotiation_class = FhirNegotiation
    # Not in the OpenAPI schema: the FHIR API describes itself (GET /fhir/metadata).
    schema = None
    parser_classes = [FhirJSONParser, JSONParser]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, BundleProblems):
            return outcome_response(400, [f"{where}: {what}" for where, what in exc.issues])
        if isinstance(exc, NotPermitted | NotFound):
            # Every failed access-control check is logged (OWASP ASVS 7.2.2).
            reference = str(self.kwargs.get("reference", ""))[:40]
            record_access_denied(self.request, "referrals.referral", reference, reason=exc.message)
        if isinstance(exc, DomainError):
            messages = [exc.message] + [
                f"{field}: {m}" for field, ms in exc.field_errors.items() for m in ms
            ]
            return outcome_response(exc.status_code, messages)
        if isinstance(exc, drf_exceptions.APIException):
            response = super().handle_exception(exc)
            detail = (
                response.data.get("detail", str(exc))
                if isinstance(response.data, dict)
                else str(exc)
            )
            out = outcome_response(response.status_code, [str(detail)])
            for header in ("WWW-Authenticate", "Allow"):
                if header in response:
                    out[header] = response[header]
            return out
        raise exc

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        return response


def _visible_referral(request: Request, reference: str) -> Referral:
    referral = (
        Referral.objects.visible_to(request.user)  # type: ignore[arg-type]
        .select_related("patient", "referrer", "referring_org", "service")
        .filter(reference=reference.upper())
        .first()
    )
    if referral is None:
        raise NotFound(f"ServiceRequest/{reference} is not known here.")
    return referral


class Metadata(FhirView):
    """The CapabilityStatement: what this server does."""

    permission_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        base = f"{settings.SITE_URL}/fhir"
        return Response(fhir_services.capability_statement(base), content_type=FHIR_JSON)


class ServiceRequestRead(FhirView):
    def get(self, request: Request, reference: str) -> Response:
        referral = _visible_referral(request, reference)
        view_referral(referral, user=request.user, what="referral.view_fhir")  # type: ignore[arg-type]
        return Response(rest_service_request_resource(referral), content_type=FHIR_JSON)


class ServiceRequestSearch(FhirView):
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("patient.identifier", "")
        system, _, value = raw.rpartition("|")
        if not value or system not in ("", fhir_services.NHS_NUMBER_SYSTEM):
            return outcome_response(
                400,
                [f"Search by patient.identifier={fhir_services.NHS_NUMBER_SYSTEM}|<NHS number>."],
            )
        bundle = fhir_services.search_service_requests(value, user=request.user)  # type: ignore[arg-type]
        return Response(bundle, content_type=FHIR_JSON)


class PatientRead(FhirView):
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patients_visible_to(request.user).filter(pk=patient_id).first()  # type: ignore[arg-type]
        if patient is None:
            record_access_denied(request, "patients.patient", patient_id)
            return outcome_response(404, [f"Patient/{patient_id} is not known here."])
        fhir_services.audit_patient_read(patient, user=request.user)  # type: ignore[arg-type]
        return Response(rest_patient_resource(patient), content_type=FHIR_JSON)


class BinaryRead(FhirView):
    """An image version: raw bytes, or a Binary resource when FHIR JSON is asked for."""

    def get(self, request: Request, image_id: int, version: str) -> Any:
        image = (
            images_visible_to(request.user)  # type: ignore[arg-type]
            .select_related("lesion__referral")
            .filter(pk=image_id)
            .first()
        )
        if image is None or version not in VIEWABLE:
            record_access_denied(request, "imaging.lesionimage", image_id)
            return outcome_response(404, [f"Binary/{image_id}-{version} is not known here."])
        try:
            data, media_type = read_derivative(image, version, user=request.user)  # type: ignore[arg-type]
        except DomainError as exc:
            return outcome_response(404, [exc.message])
        accept = request.META.get("HTTP_ACCEPT", "")
        if "fhir+json" in accept or "application/json" in accept:
            body = {
                "resourceType": "Binary",
                "id": f"{image.pk}-{version}",
                "contentType": media_type,
                "data": base64.b64encode(data).decode(),
            }
            return Response(body, content_type=FHIR_JSON)
        response = HttpResponse(data, content_type=media_type)
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class Transaction(FhirView):
    """POST a transaction Bundle: a referral with its images from a GP system, all or nothing."""

    def post(self, request: Request) -> Response:
        # DRF streams JSON without Django's body-size limit: bound it before parsing. Three
        # upload limits covers a referral's images at base64's 4/3 size.
        limit = 3 * settings.MAX_UPLOAD_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return outcome_response(
                413,
                [
                    f"The Bundle is larger than {limit // (1024 * 1024)} MB: send fewer or smaller images."
                ],
            )
        referral = fhir_services.import_referral_bundle(request.data, user=request.user)  # type: ignore[arg-type]
        return Response(
            fhir_services.transaction_response(referral), status=200, content_type=FHIR_JSON
        )


class SendToPacs(FhirView):
    """``POST /fhir/ServiceRequest/{ref}/$send-to-pacs``: queue the referral's images for the PACS.

    A page's form may pass ``next`` to be sent back there; an API client gets an OperationOutcome.
    """

    parser_classes = [FormParser, MultiPartParser, FhirJSONParser, JSONParser]

    def post(self, request: Request, reference: str) -> Any:
        referral = _visible_referral(request, reference)
        services.queue_send_to_pacs(referral, user=request.user)  # type: ignore[arg-type]
        target = request.data.get("next") if hasattr(request.data, "get") else None
        if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            return HttpResponseRedirect(target)
        return outcome_response(
            202,
            [f"Images of {referral.reference} are being sent to the PACS."],
            severity="information",
        )


# ------------------------------------------------------------------- histology (issue #14)


class DiagnosticReportCreate(FhirView):
    """``POST /fhir/DiagnosticReport``: a laboratory's histology report for a biopsy request.
    201 with the stored report; the same report again 200 (idempotent); 400 naming the element."""

    def post(self, request: Request) -> Response:
        try:
            recorded, resource = histology_services.receive_report(
                request.data,
                user=request.user,  # type: ignore[arg-type]
            )
        except ReportProblems as exc:
            return outcome_response(400, [f"{where}: {what}" for where, what in exc.issues])
        response = Response(
            resource, status=201 if recorded.created else 200, content_type=FHIR_JSON
        )
        response["Location"] = f"/fhir/DiagnosticReport/{recorded.result.pk}"
        return response


class DiagnosticReportRead(FhirView):
    def get(self, request: Request, pk: int) -> Response:
        resource = histology_services.read_report_of(pk, user=request.user)  # type: ignore[arg-type]
        if resource is None:
            raise NotFound(f"DiagnosticReport/{pk} is not known here.")
        return Response(resource, content_type=FHIR_JSON)


# ---------------------------------------------------------------- a hub's clinics (read-only)


class _ScheduleRead(FhirView):
    """``GET /fhir/{kind}/{id}``: one of the user's hubs' clinics; 404 (recorded) otherwise."""

    kind = ""
    object_type = ""
    reader: Any = None

    def get(self, request: Request, pk: int) -> Response:
        found = type(self).reader(request.user, pk)
        if found is None:
            record_access_denied(request, self.object_type, pk)
            return outcome_response(404, [f"{self.kind}/{pk} is not known here."])
        return Response(found, content_type=FHIR_JSON)


class _ScheduleSearch(FhirView):
    searcher: Any = None

    def get(self, request: Request) -> Response:
        params = fhir_scheduling.Params.of(request.query_params)
        return Response(type(self).searcher(request.user, params), content_type=FHIR_JSON)


class ScheduleRead(_ScheduleRead):
    kind, object_type = "Schedule", "clinics.clinicsession"
    reader = staticmethod(fhir_scheduling.read_schedule)


class SlotRead(_ScheduleRead):
    kind, object_type = "Slot", "clinics.slot"
    reader = staticmethod(fhir_scheduling.read_slot)


class AppointmentRead(_ScheduleRead):
    kind, object_type = "Appointment", "clinics.appointment"
    reader = staticmethod(fhir_scheduling.read_appointment)


class ScheduleSearch(_ScheduleSearch):
    searcher = staticmethod(fhir_scheduling.search_schedules)


class SlotSearch(_ScheduleSearch):
    searcher = staticmethod(fhir_scheduling.search_slots)


class AppointmentSearch(_ScheduleSearch):
    searcher = staticmethod(fhir_scheduling.search_appointments)
