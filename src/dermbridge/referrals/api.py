"""REST API for referrals: create and edit drafts, lesions, reads, messages and outcomes.

Views parse, check visibility (`Referral.objects.visible_to` -> 404 for anyone else), call one
service and render. Every read of patient data is audited. Workflow actions are in
`api_actions.py`, image endpoints in `dermbridge.imaging.api`, patients in
`dermbridge.patients.api`, tokens in `dermbridge.accounts.api`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes, schema
from rest_framework.exceptions import NotAuthenticated, NotFound
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from dermbridge.accounts.authentication import API_AUTHENTICATION
from dermbridge.accounts.models import Organisation, Role, User
from dermbridge.audit.services import record
from dermbridge.core.errors import DomainError, InvalidReferral, NotPermitted
from dermbridge.imaging.models import LesionImage
from dermbridge.patients.services import patients_visible_to
from dermbridge.referrals import services
from dermbridge.referrals.models import (
    Lesion,
    Message,
    Outcome,
    Referral,
    ReferralKind,
    State,
)
from dermbridge.referrals.serializers import (
    ErrorSerializer,
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

# SQLite and PostgreSQL bigint: a larger id in a URL or body cannot name a row.
MAX_ID = 2**63 - 1


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"lesions[1].size_mm": [...]} like the services use."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
        return out
    if isinstance(detail, list) and detail and all(isinstance(d, dict | list) for d in detail):
        out = {}
        for index, value in enumerate(detail, start=1):
            out.update(_flatten(value, f"{prefix}[{index}]"))
        return out
    messages = [str(m) for m in detail] if isinstance(detail, list) else [str(detail)]
    return {prefix or "request": messages} if messages else {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as {"detail": sentence, "errors": {field: [messages]}}."""
    if isinstance(exc, NotPermitted) and context.get("request") is not None:
        reference = str((context.get("kwargs") or {}).get("reference", ""))[:40]
        record_access_denied(
            context["request"], "referrals.referral", reference, reason=exc.message
        )
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field_errors:
            body["errors"] = exc.field_errors
        return Response(body, status=exc.status_code)
    if isinstance(exc, DRFValidationError):
        errors = _flatten(exc.detail)
        field, messages = next(iter(errors.items()), ("request", ["Invalid request."]))
        first = (
            messages[0] if field in ("request", "non_field_errors") else f"{field}: {messages[0]}"
        )
        return Response({"detail": first, "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)


def record_access_denied(
    request: Request, object_type: str, object_id: str | int, *, reason: str = ""
) -> None:
    """Every failed access-control check is logged (OWASP ASVS 7.2.2): who asked for what."""
    detail = {"path": request.path, "method": request.method}
    if reason:
        detail["reason"] = reason[:200]
    record(
        request.user, "access.denied", object_type=object_type, object_id=object_id, detail=detail
    )


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an endpoint (401 applies to all of them)."""
    words = {
        400: "The request is incomplete or wrong; nothing was changed.",
        401: "No valid token or session.",
        403: "You may see this but not do this (or two-factor verification is needed).",
        404: "Not found, or not visible to you.",
        409: "Not possible in the referral's current state.",
        415: "The body must be JSON (multipart/form-data for photo uploads).",
        429: "Too many failed sign-in attempts: the account is locked for a while.",
    }
    return {
        code: OpenApiResponse(ErrorSerializer, description=words[code]) for code in (401, *codes)
    }


class JsonView(APIView):
    """An API view whose requests carry JSON bodies (photo uploads use multipart instead)."""

    authentication_classes = API_AUTHENTICATION
    parser_classes = [JSONParser]


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


def id_parameter(name: str, description: str) -> OpenApiParameter:
    """An integer id in the path, documented with the range a row id can have."""
    return OpenApiParameter(
        name,
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        OpenApiParameter.PATH,
        description=description,
    )


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
@schema(None)
def not_found(request: Request, unmatched: str = "") -> Response:
    """Any other /api/ address: a JSON 404 rather than the HTML page meant for people."""
    raise NotFound("There is no such API endpoint.")


def int_or_404(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise NotFound("Not found.")
    return value


def organisation_from(value: str, field: str) -> Organisation:
    """An organisation named by ODS code (or database id) in a request body."""
    value = value.strip()
    org = Organisation.objects.filter(ods_code__iexact=value).first()
    if org is None and value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
        org = Organisation.objects.filter(pk=int(value)).first()
    if org is None:
        message = f"No organisation with ODS code {value!r}."
        raise InvalidReferral(message, field_errors={field: [message]})
    return org


def own_organisation(user: User, value: str | None, field: str) -> Organisation:
    """The practice or hub the user acts for: named, or their only one."""
    if value:
        return organisation_from(value, field)
    ids = user.organisation_ids(Role.REFERRER, Role.PHOTOGRAPHER)
    if len(ids) != 1:
        message = "Say which practice or hub you act for (its ODS code)."
        raise InvalidReferral(message, field_errors={field: [message]})
    return Organisation.objects.get(pk=next(iter(ids)))


def acting_user(request: Request) -> User:
    """The signed-in user (every API view but sign-in requires authentication)."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


def visible_referral(request: Request, reference: str) -> Referral:
    referral = Referral.objects.visible_to(acting_user(request)).filter(reference=reference).first()
    if referral is None:
        record_access_denied(request, "referrals.referral", reference[:40])
        raise NotFound(f"No referral {reference} that you can see.")
    return referral


def visible_lesion(request: Request, reference: str, number: int) -> Lesion:
    """Lesion `number` of a referral the caller may see (404 otherwise, audited)."""
    referral = visible_referral(request, reference)
    lesion = referral.lesions.filter(number=int_or_404(number)).first()  # type: ignore[attr-defined]
    if lesion is None:
        raise NotFound(f"Referral {reference} has no lesion {number}.")
    return lesion  # type: ignore[no-any-return]


def referral_detail_queryset(user: User) -> QuerySet[Referral]:
    lesions = Lesion.objects.order_by("number").prefetch_related(
        Prefetch("images", queryset=LesionImage.objects.order_by("uploaded_at", "id"))
    )
    return (
        Referral.objects.visible_to(user)
        .select_related(
            "patient__registered_practice",
            "service",
            "referring_org",
            "imaging_hub",
            "referrer",
            "claimed_by",
            "history",
            "outcome__recorded_by",
        )
        .prefetch_related(
            Prefetch("lesions", queryset=lesions),
            Prefetch("messages", queryset=Message.objects.select_related("author", "organisation")),
        )
    )


def render_referral(request: Request, reference: str, *, code: int = 200) -> Response:
    """The full referral as this user may see it; the read is audited."""
    referral = referral_detail_queryset(acting_user(request)).filter(reference=reference).first()
    if referral is None:
        record_access_denied(request, "referrals.referral", reference[:40])
        raise NotFound(f"No referral {reference} that you can see.")
    services.view_referral(referral, user=acting_user(request))
    data = ReferralSerializer(referral, context={"request": request}).data
    return Response(data, status=code)


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
        queryset = (
            Referral.objects.visible_to(acting_user(request))
            .filter(**filters.validated_data)
            .select_related("patient__registered_practice", "service", "referring_org")
            .order_by("-created_at", "-id")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self) or []
        record(
            acting_user(request),
            "referral.list",
            object_type="referrals.referral",
            detail={"references": [r.reference for r in page]},
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
