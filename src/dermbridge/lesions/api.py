"""REST API for a patient's lesions (/api/patients/<id>/lesions/, /api/lesions/...).

The same rule as the pages (lesions/access.py): the dermatologists of a service that has been
sent a referral for the patient; anyone else gets 404, recorded. Each read is audited; a link
goes through lesions.services (audited there).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from dermbridge.accounts.api import acting_user
from dermbridge.api.errors import record_access_denied
from dermbridge.api.schema import error_responses, id_parameter
from dermbridge.api.views import JsonView, int_or_404
from dermbridge.lesions import access, reads, services
from dermbridge.lesions.forms import NEW
from dermbridge.lesions.models import PatientLesion
from dermbridge.lesions.serializers import (
    EncounterSerializer,
    LinkSerializer,
    PatientLesionSerializer,
)
from dermbridge.patients.models import Patient
from dermbridge.referrals.models import Lesion

PATIENT_ID = id_parameter("patient_id", "The patient's id in DermBridge.")
LESION_ID = id_parameter("lesion_id", "The patient lesion's id.")
REFERRAL_LESION_ID = id_parameter("referral_lesion_id", "The id of a lesion in a referral.")


def _patient(request: Request, patient_id: int) -> Patient:
    pk = int_or_404(patient_id)
    patient = Patient.objects.filter(pk=pk).first()
    if patient is None or not access.may_see_patient(acting_user(request), pk):
        record_access_denied(request, "patients.patient", patient_id)
        raise NotFound("No patient with this id whose lesions you can see.")
    return patient


def _lesion(request: Request, lesion_id: int) -> PatientLesion:
    pk = int_or_404(lesion_id)
    found = PatientLesion.objects.filter(pk=pk).first()
    if found is None or not services.may_open(acting_user(request), found):
        record_access_denied(request, "lesions.patientlesion", lesion_id)
        raise NotFound("No lesion with this id that you can see.")
    return found


def _shown(lesions: list[PatientLesion], visible: dict[int, Any]) -> list[dict[str, Any]]:
    return list(PatientLesionSerializer(lesions, many=True, context={"encounters": visible}).data)


class PatientLesionListView(JsonView):
    @extend_schema(
        operation_id="lesions_patient_list",
        parameters=[PATIENT_ID],
        responses={200: PatientLesionSerializer(many=True), **error_responses(404)},
        summary="The patient's lesions (FHIR BodyStructure), each with the visits you can see",
    )
    def get(self, request: Request, patient_id: int) -> Response:
        patient = _patient(request, patient_id)
        lesions, visible = reads.api_patient_lesions(acting_user(request), patient)
        return Response(_shown(lesions, visible))


class PatientLesionDetailView(JsonView):
    @extend_schema(
        operation_id="lesions_retrieve",
        parameters=[LESION_ID],
        responses={200: PatientLesionSerializer, **error_responses(404)},
        summary="One of a patient's lesions with the visits you can see",
    )
    def get(self, request: Request, lesion_id: int) -> Response:
        lesion = _lesion(request, lesion_id)
        encounters = reads.api_lesion(acting_user(request), lesion)
        if encounters is None:
            record_access_denied(request, "lesions.patientlesion", lesion_id)
            raise NotFound("No lesion with this id that you can see.")
        return Response(_shown([lesion], {lesion.pk: encounters})[0])


class LinkView(JsonView):
    @extend_schema(
        operation_id="lesions_link",
        parameters=[REFERRAL_LESION_ID],
        request=LinkSerializer,
        responses={200: EncounterSerializer, **error_responses(400, 403, 404, 415)},
        summary="Say which of the patient's lesions a referral's lesion shows (or that it is "
        "new); re-linking a wrong match is the same call. Audited",
    )
    def post(self, request: Request, referral_lesion_id: int) -> Response:
        user = acting_user(request)
        pk = int_or_404(referral_lesion_id)
        lesion = Lesion.objects.select_related("referral").filter(pk=pk).first()
        if (
            lesion is None
            or not access.may_see_patient(user, lesion.referral.patient_id)
            or lesion.referral_id
            not in access.visible_referral_ids(user, lesion.referral.patient_id)
        ):
            record_access_denied(request, "referrals.lesion", referral_lesion_id)
            raise NotFound("No referral lesion with this id that you can see.")
        body = LinkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        choice, reason = body.validated_data["patient_lesion"], body.validated_data["reason"]
        if choice == NEW:
            encounter = services.start_new(lesion, user=user, reason=reason)
        else:
            target_pk = int(choice) if choice.isdigit() else 0
            target = PatientLesion.objects.filter(
                pk=target_pk, patient_id=lesion.referral.patient_id
            ).first()
            if target is None:
                record_access_denied(request, "lesions.patientlesion", choice[:20])
                raise NotFound("No lesion with this id for this patient.")
            encounter = services.link(lesion, target, user=user, reason=reason)
        return Response(EncounterSerializer(encounter).data)
