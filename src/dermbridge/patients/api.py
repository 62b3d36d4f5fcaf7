"""REST API for patients: register or match by NHS number, read, record consent decisions."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from dermbridge.accounts.api import acting_user, own_organisation
from dermbridge.api.errors import record_access_denied
from dermbridge.api.schema import error_responses, id_parameter
from dermbridge.api.views import JsonView, Pagination, int_or_404
from dermbridge.patients import reads
from dermbridge.patients.models import Patient
from dermbridge.patients.serializers import (
    ConsentCreateSerializer,
    ConsentSerializer,
    PatientCreateSerializer,
    PatientSerializer,
    PatientSummarySerializer,
)
from dermbridge.patients.services import record_consent, register_patient

PATIENT_ID = id_parameter("patient_id", "The patient's id in DermBridge.")


def _refused(request: Request, patient_id: int) -> NotFound:
    record_access_denied(request, "patients.patient", patient_id)
    return NotFound("No patient with this id that you can see.")


class PatientListView(JsonView):
    pagination_class = Pagination

    @extend_schema(
        operation_id="patients_list",
        responses={200: PatientSummarySerializer(many=True), **error_responses(403)},
        summary="Patients registered at your practice or referred to your service",
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = reads.list_patients(
            acting_user(request),
            lambda queryset: paginator.paginate_queryset(queryset, request, view=self),
        )
        return paginator.get_paginated_response(PatientSummarySerializer(page, many=True).data)

    @extend_schema(
        operation_id="patients_create",
        request=PatientCreateSerializer,
        responses={
            201: PatientSerializer,
            200: PatientSerializer,
            **error_responses(400, 403, 415),
        },
        summary="Register a patient, or match the existing record (200) by NHS number "
        "and date of birth",
    )
    def post(self, request: Request) -> Response:
        body = PatientCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.service_kwargs()
        practice = own_organisation(acting_user(request), data.pop("practice", None), "practice")
        started = timezone.now()
        patient = register_patient(user=acting_user(request), practice=practice, **data)
        created = patient.created_at >= started
        patient = reads.with_details(Patient.objects.all()).get(pk=patient.pk)
        return Response(
            PatientSerializer(patient).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PatientDetailView(JsonView):
    @extend_schema(
        operation_id="patients_retrieve",
        parameters=[PATIENT_ID],
        responses={200: PatientSerializer, **error_responses(403, 404)},
        summary="A patient's details and current consent decisions",
    )
    def get(self, request: Request, patient_id: int) -> Response:
        patient = reads.view_patient(acting_user(request), int_or_404(patient_id))
        if patient is None:
            raise _refused(request, patient_id)
        return Response(PatientSerializer(patient).data)


class ConsentCreateView(JsonView):
    @extend_schema(
        operation_id="patients_consents_create",
        parameters=[PATIENT_ID],
        request=ConsentCreateSerializer,
        responses={201: ConsentSerializer, **error_responses(400, 403, 404, 415)},
        summary="Record a consent decision (given or withdrawn) for one scope",
    )
    def post(self, request: Request, patient_id: int) -> Response:
        patient = reads.visible_patient(acting_user(request), int_or_404(patient_id))
        if patient is None:
            raise _refused(request, patient_id)
        body = ConsentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        consent = record_consent(
            user=acting_user(request),
            patient=patient,
            **body.validated_data,
        )
        return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)
