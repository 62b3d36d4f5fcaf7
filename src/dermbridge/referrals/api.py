"""REST API for referrals: create and edit drafts, lesions, reads, messages and outcomes.

Views parse, check visibility (`Referral.objects.visible_to` -> 404 for anyone else), call one
service and render. Every read of patient data goes through a service that audits it
(`referrals.reads`, `referrals.services.view_referral`). Workflow actions are in
`api_actions.py`, the shared lookups in `api_helpers.py`, the URLs in `api_urls.py`; image
endpoints are in `dermbridge.imaging.api`, patients in `dermbridge.patients.api`, tokens in
`dermbridge.accounts.api`, the framework (errors, base view, pagination) in `dermbridge.api`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from dermbridge.accounts.api import acting_user, organisation_from, own_organisation
from dermbridge.api.errors import record_access_denied
from dermbridge.api.schema import error_responses, id_parameter
from dermbridge.api.views import JsonView, Pagination
from dermbridge.core.errors import InvalidReferral
from dermbridge.patients.services import patients_visible_to
from dermbridge.referrals import reads, services
from dermbridge.referrals.api_helpers import render_referral, visible_lesion, visible_referral
from dermbridge.referrals.models import Lesion, Outcome, ReferralKind, State
from dermbridge.referrals.serializers import (
    LesionInputSerializer,
    LesionSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    OutcomeSerializer,
    ReferralCreateSerializer,
    ReferralListSerializer,
    ReferralSerializer,
    ReferralUpdateSerializer,
)

__all__ = [
    "LesionCreateView",
    "LesionDetailView",
    "MessageListView",
    "OutcomeView",
    "ReferralDetailView",
    "ReferralListView",
    # Still imported from here by dermbridge.interop.views (its home is dermbridge.api.errors).
    "record_access_denied",
]


class ReferralFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReferralKind.choices, required=False)
    state = serializers.ChoiceField(choices=State.choices, required=False)


class ReferralListView(JsonView):
    pagination_class = Pagination

    @extend_schema(
        operation_id="referrals_list",
        parameters=[ReferralFilterSerializer],
        responses={200: ReferralListSerializer(many=True), **error_responses(400, 403)},
        summary="Referrals you can see, newest first",
    )
    def get(self, request: Request) -> Response:
        filters = ReferralFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = reads.list_referrals(
            acting_user(request),
            lambda queryset: paginator.paginate_queryset(queryset, request, view=self),
            **filters.validated_data,
        )
        return paginator.get_paginated_response(ReferralListSerializer(page, many=True).data)

    @extend_schema(
        operation_id="referrals_create",
        request=ReferralCreateSerializer,
        responses={201: ReferralSerializer, **error_responses(400, 403, 415)},
        summary="Start a draft referral with its patient, history and lesions, all or nothing",
    )
    def post(self, request: Request) -> Response:
        body = ReferralCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        user = acting_user(request)
        referring_org = own_organisation(user, data.pop("referring_org", None), "referring_org")
        kwargs: dict[str, Any] = {
            "kind": data["kind"],
            "service": organisation_from(data["service"], "service"),
            "clinical_question": data.get("clinical_question", ""),
            "history": data.get("history") or {},
            "lesions": data.get("lesions") or [],
            "imaging_hub": (
                organisation_from(data["imaging_hub"], "imaging_hub")
                if data.get("imaging_hub")
                else None
            ),
        }
        if "patient" in data:
            patient = patients_visible_to(user).filter(pk=data["patient"]).first()
            if patient is None:
                record_access_denied(request, "patients.patient", data["patient"])
                message = "No patient with this id that you can see."
                raise InvalidReferral(message, field_errors={"patient": [message]})
            referral = services.create_referral(
                user=user, patient=patient, referring_org=referring_org, **kwargs
            )
        else:
            referral = services.start_referral(
                user=user,
                referring_org=referring_org,
                patient_details=data["patient_details"],
                consent_direct_care=False,
                **kwargs,
            )
        return render_referral(request, referral.reference, code=status.HTTP_201_CREATED)


class ReferralDetailView(JsonView):
    @extend_schema(
        operation_id="referrals_retrieve",
        responses={200: ReferralSerializer, **error_responses(403, 404)},
        summary="One referral: state, clocks, lesions and images, outcome, messages, actions",
    )
    def get(self, request: Request, reference: str) -> Response:
        return render_referral(request, reference)

    @extend_schema(
        operation_id="referrals_partial_update",
        request=ReferralUpdateSerializer,
        responses={200: ReferralSerializer, **error_responses(400, 403, 404, 409, 415)},
        summary="Change a draft's pathway, question or clinical history",
    )
    def patch(self, request: Request, reference: str) -> Response:
        referral = visible_referral(request, reference)
        body = ReferralUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        services.update_draft(
            referral,
            user=acting_user(request),
            kind=data.get("kind"),
            clinical_question=data.get("clinical_question"),
            history=data.get("history"),
        )
        return render_referral(request, reference)

    @extend_schema(
        operation_id="referrals_destroy",
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(403, 404, 409),
        },
        summary="Delete a draft (the referrer only; a sent referral is withdrawn instead)",
    )
    def delete(self, request: Request, reference: str) -> Response:
        referral = visible_referral(request, reference)
        services.delete_draft(referral, user=acting_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LesionDetailView(JsonView):
    """One lesion of a draft: corrected or removed by the referrer (see referrals.permissions)."""

    @extend_schema(
        operation_id="referrals_lesions_partial_update",
        parameters=[id_parameter("number", "The lesion's number in the referral (1, 2, ...).")],
        request=LesionInputSerializer,
        responses={200: LesionSerializer, **error_responses(400, 403, 404, 409, 415)},
        summary="Correct a lesion of a draft (fields not given are kept)",
    )
    def patch(self, request: Request, reference: str, number: int) -> Response:
        lesion = visible_lesion(request, reference, number)
        body = LesionInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        current = {
            "body_site_code": lesion.body_site_code,
            "laterality": lesion.laterality,
            "size_mm": lesion.size_mm,
            "description": lesion.description,
            "pigmented": lesion.pigmented,
        }
        services.update_lesion(
            lesion, user=acting_user(request), **{**current, **body.validated_data}
        )
        lesion = Lesion.objects.select_related("referral__service").get(pk=lesion.pk)
        return Response(LesionSerializer(lesion).data)

    @extend_schema(
        operation_id="referrals_lesions_destroy",
        parameters=[id_parameter("number", "The lesion's number in the referral (1, 2, ...).")],
        responses={204: OpenApiResponse(description="Removed."), **error_responses(403, 404, 409)},
        summary="Remove a lesion and its photos from a draft; later lesions are renumbered",
    )
    def delete(self, request: Request, reference: str, number: int) -> Response:
        lesion = visible_lesion(request, reference, number)
        services.remove_lesion(lesion, user=acting_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LesionCreateView(JsonView):
    @extend_schema(
        operation_id="referrals_lesions_create",
        request=LesionInputSerializer,
        responses={201: LesionSerializer, **error_responses(400, 403, 404, 409, 415)},
        summary="Describe another lesion on a draft (or when more information is asked for)",
    )
    def post(self, request: Request, reference: str) -> Response:
        referral = visible_referral(request, reference)
        body = LesionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lesion = services.add_lesion(
            referral,
            user=acting_user(request),
            **body.validated_data,
        )
        lesion = Lesion.objects.select_related("referral__service").get(pk=lesion.pk)
        return Response(LesionSerializer(lesion).data, status=status.HTTP_201_CREATED)


class MessageListView(JsonView):
    pagination_class = Pagination

    @extend_schema(
        operation_id="referrals_messages_list",
        responses={200: MessageSerializer(many=True), **error_responses(403, 404)},
        summary="Messages between the practice and the service, oldest first",
    )
    def get(self, request: Request, reference: str) -> Response:
        referral = visible_referral(request, reference)
        services.view_referral(
            referral,
            user=acting_user(request),
            what="referral.messages",
        )
        messages = referral.messages.select_related("author", "organisation")  # type: ignore[attr-defined]
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            messages.order_by("created_at", "id"), request, view=self
        )
        return paginator.get_paginated_response(MessageSerializer(page or [], many=True).data)

    @extend_schema(
        operation_id="referrals_messages_create",
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, **error_responses(400, 403, 404, 409, 415)},
        summary="Send a message about the referral to the other side",
    )
    def post(self, request: Request, reference: str) -> Response:
        referral = visible_referral(request, reference)
        body = MessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = services.post_message(
            referral,
            user=acting_user(request),
            body=body.validated_data["body"],
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class OutcomeView(JsonView):
    @extend_schema(
        operation_id="referrals_outcome_retrieve",
        responses={200: OutcomeSerializer, **error_responses(403, 404)},
        summary="The dermatologist's outcome (404 until there is one)",
    )
    def get(self, request: Request, reference: str) -> Response:
        referral = visible_referral(request, reference)
        outcome = Outcome.objects.select_related("recorded_by").filter(referral=referral).first()
        if outcome is None:
            raise NotFound(f"Referral {reference} has no outcome yet.")
        services.view_referral(
            referral,
            user=acting_user(request),
            what="referral.outcome.view",
        )
        return Response(OutcomeSerializer(outcome).data)
