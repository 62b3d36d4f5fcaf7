"""REST API for patients: register or match by NHS number, read, record consent decisions."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from dermbridge.audit.services import record
from dermbridge.patients.models import Consent, Patient
from dermbridge.patients.serializers import (
    ConsentCreateSerializer,
    ConsentSerializer,
    PatientCreateSerializer,
    PatientSerializer,
    PatientSummarySerializer,
)
from dermbridge.patients.services import patients_visible_to, record_consent, register_patient
from dermbridge.referrals.api import (
    JsonView,
    Pagination,
    acting_user,
    error_responses,
    id_parameter,
    int_or_404,
    own_organisation,
    record_access_denied,
)

PATIENT_ID = id_parameter("patient_id", "The patient's id in DermBridge.")


def _with_details(queryset: QuerySet[Patient]) -> QuerySet[Patient]:
    consents = Consent.objects.select_related("recorded_by").order_by("-recorded_at", "-id")
    return queryset.select_related("registered_practice").prefetch_related(
        Prefetch("consents", queryset=consents)
    )


def _visible_patient(request: Request, patient_id: int) -> Patient:
    patient = (
        _with_details(patients_visible_to(acting_user(request)))
        .filter(pk=int_or_404(patient_id))
        .first()
    )
    if patient is None:
        record_access_denied(request, "patients.patient", patient_id)
        raise NotFound("No patient with this id that you can see.")
    return patient


class PatientListView(JsonView):
    pagination_class = Pagination

    @extend_schema(
        operation_id="patients_list",
        responses={200: PatientSummarySerializer(many=True), **error_responses(403)},
        summary="Patients registered at your practice or referred to your service",
    )
    def get(self, request: Request) -> Response:
        queryset = (
            patients_visible_to(acting_user(request))
            .select_related("registered_practice")
            .order_by("family_name", "given_name", "id")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self) or []
        record(
            acting_user(request),
            "patient.list",
            object_type="patients.patient",
            detail={"ids": [p.pk for p in page]},
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
        patient = _with_details(Patient.objects.all()).get(pk=patient.pk)
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
        patient = _visible_patient(request, patient_id)
        record(acting_user(request), "patient.view", patient)
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
        patient = _visible_patient(request, patient_id)
        body = ConsentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        consent = record_consent(
            user=acting_user(request),
            patient=patient,
            **body.validated_data,
        )
        return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)
