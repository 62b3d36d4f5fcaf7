"""REST API for a hub's slots and appointments (/api/clinics/hubs/<hub_id>/...).

Hub staff only: anyone else gets 404 for the hub (recorded), as for every object in the API.
Changes go through the clinics services (409 when a slot has just gone, 403 for a photographer
asking for what only the service may do); reads of patients through `clinics.reads` (audited).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from dermbridge.accounts.api import acting_user
from dermbridge.accounts.models import Organisation
from dermbridge.api.errors import record_access_denied
from dermbridge.api.schema import error_responses, id_parameter
from dermbridge.api.views import JsonView, Pagination, int_or_404
from dermbridge.clinics import reads, services
from dermbridge.clinics.access import staff_hub
from dermbridge.clinics.models import Appointment, Site, Slot
from dermbridge.clinics.serializers import (
    AppointmentSerializer,
    BookSerializer,
    CancelSerializer,
    MoveSerializer,
    RangeQuerySerializer,
    SlotSerializer,
    VisitSerializer,
)
from dermbridge.referrals.models import Referral

HUB_ID = id_parameter("hub_id", "The imaging hub's id in DermBridge.")
APPOINTMENT_ID = id_parameter("appointment_id", "The appointment's id.")


def _hub(request: Request, hub_id: int) -> Organisation:
    hub = staff_hub(acting_user(request), int_or_404(hub_id))
    if hub is None:
        record_access_denied(request, "accounts.organisation", hub_id)
        raise NotFound("No imaging hub with this id where you work.")
    return hub


def _site(request: Request, hub: Organisation, site_id: int | None) -> Site | None:
    if site_id is None:
        return None
    site = Site.objects.filter(pk=site_id, hub=hub).first()
    if site is None:
        record_access_denied(request, "clinics.site", site_id)
        raise NotFound("No site with this id at this hub.")
    return site


def _slot(request: Request, hub: Organisation, slot_id: int | None) -> Slot | None:
    if slot_id is None:
        return None
    slot = Slot.objects.filter(pk=slot_id, session__site__hub=hub).first()
    if slot is None:
        record_access_denied(request, "clinics.slot", slot_id)
        raise NotFound("No slot with this id at this hub.")
    return slot


def _appointment(request: Request, hub: Organisation, appointment_id: int) -> Appointment:
    found = Appointment.objects.filter(
        pk=int_or_404(appointment_id), slot__session__site__hub=hub
    ).first()
    if found is None:
        record_access_denied(request, "clinics.appointment", appointment_id)
        raise NotFound("No appointment with this id at this hub.")
    return found


def _range(request: Request) -> dict[str, Any]:
    query = RangeQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    from django.utils import timezone

    data = dict(query.validated_data)
    data.setdefault("start", timezone.localdate())
    data.setdefault("end", data["start"] + timedelta(days=28))
    return data


def _shown(appointment: Appointment) -> dict[str, Any]:
    full = Appointment.objects.select_related("slot__session__site", "referral__patient").get(
        pk=appointment.pk
    )
    return dict(AppointmentSerializer(full).data)


class SlotListView(JsonView):
    pagination_class = Pagination

    @extend_schema(
        operation_id="clinics_slots_list",
        parameters=[HUB_ID, RangeQuerySerializer],
        responses={200: SlotSerializer(many=True), **error_responses(400, 404)},
        summary="The hub's slots in a date range (free ones only with free=true)",
    )
    def get(self, request: Request, hub_id: int) -> Response:
        hub = _hub(request, hub_id)
        data = _range(request)
        slots = reads.slots(
            acting_user(request),
            hub,
            start=data["start"],
            end=data["end"],
            site=_site(request, hub, data.get("site")),
        )
        if data["free"]:
            slots = slots.filter(held=0)  # type: ignore[misc]  # the annotation reads.slots adds
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(slots, request, view=self)
        return paginator.get_paginated_response(SlotSerializer(page, many=True).data)


class AppointmentListView(JsonView):
    pagination_class = Pagination

    @extend_schema(
        operation_id="clinics_appointments_list",
        parameters=[HUB_ID, RangeQuerySerializer],
        responses={200: AppointmentSerializer(many=True), **error_responses(400, 404)},
        summary="The hub's appointments in a date range (every status)",
    )
    def get(self, request: Request, hub_id: int) -> Response:
        hub = _hub(request, hub_id)
        data = _range(request)
        user = acting_user(request)
        rows = reads.appointments(user, hub, start=data["start"], end=data["end"])
        paginator = self.pagination_class()
        page = list(paginator.paginate_queryset(rows, request, view=self) or [])
        reads.audit_listed(user, hub, page)
        return paginator.get_paginated_response(AppointmentSerializer(page, many=True).data)

    @extend_schema(
        operation_id="clinics_appointments_create",
        parameters=[HUB_ID],
        request=BookSerializer,
        responses={201: AppointmentSerializer, **error_responses(400, 403, 404, 409, 415)},
        summary="Book a referral sent to this hub into a slot, or the earliest free slot at a "
        "site; the patient is told",
    )
    def post(self, request: Request, hub_id: int) -> Response:
        hub = _hub(request, hub_id)
        body = BookSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        referral = Referral.objects.filter(reference=data["referral"], imaging_hub=hub).first()
        if referral is None:
            record_access_denied(request, "referrals.referral", data["referral"])
            raise NotFound("No referral with this reference sent to this hub.")
        appointment = services.book(
            acting_user(request),
            referral,
            hub=hub,
            slot=_slot(request, hub, data.get("slot")),
            site=_site(request, hub, data.get("site")),
        )
        return Response(_shown(appointment), status=status.HTTP_201_CREATED)


class AppointmentDetailView(JsonView):
    @extend_schema(
        operation_id="clinics_appointments_retrieve",
        parameters=[HUB_ID, APPOINTMENT_ID],
        responses={200: AppointmentSerializer, **error_responses(404)},
        summary="One appointment",
    )
    def get(self, request: Request, hub_id: int, appointment_id: int) -> Response:
        hub = _hub(request, hub_id)
        found = reads.appointment(acting_user(request), hub, int_or_404(appointment_id))
        if found is None:
            record_access_denied(request, "clinics.appointment", appointment_id)
            raise NotFound("No appointment with this id at this hub.")
        return Response(AppointmentSerializer(found).data)


class AppointmentMoveView(JsonView):
    @extend_schema(
        operation_id="clinics_appointments_move",
        parameters=[HUB_ID, APPOINTMENT_ID],
        request=MoveSerializer,
        responses={201: AppointmentSerializer, **error_responses(400, 403, 404, 409, 415)},
        summary="Move a booked appointment to a slot or the earliest free one at a site (a new "
        "appointment; the old one is kept as moved); the patient is told",
    )
    def post(self, request: Request, hub_id: int, appointment_id: int) -> Response:
        hub = _hub(request, hub_id)
        appointment = _appointment(request, hub, appointment_id)
        body = MoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        moved = services.move(
            acting_user(request),
            appointment,
            hub=hub,
            slot=_slot(request, hub, body.validated_data.get("slot")),
            site=_site(request, hub, body.validated_data.get("site")),
        )
        return Response(_shown(moved), status=status.HTTP_201_CREATED)


class AppointmentCancelView(JsonView):
    @extend_schema(
        operation_id="clinics_appointments_cancel",
        parameters=[HUB_ID, APPOINTMENT_ID],
        request=CancelSerializer,
        responses={200: AppointmentSerializer, **error_responses(400, 403, 404, 409, 415)},
        summary="Cancel a booked appointment; the patient is told",
    )
    def post(self, request: Request, hub_id: int, appointment_id: int) -> Response:
        hub = _hub(request, hub_id)
        appointment = _appointment(request, hub, appointment_id)
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = services.cancel(
            acting_user(request), appointment, hub=hub, reason=body.validated_data["reason"]
        )
        return Response(_shown(done))


class AppointmentVisitView(JsonView):
    @extend_schema(
        operation_id="clinics_appointments_visit",
        parameters=[HUB_ID, APPOINTMENT_ID],
        request=VisitSerializer,
        responses={200: AppointmentSerializer, **error_responses(400, 403, 404, 409, 415)},
        summary="Record the visit: attended, did not attend, or could not be photographed "
        "(with the reason)",
    )
    def post(self, request: Request, hub_id: int, appointment_id: int) -> Response:
        hub = _hub(request, hub_id)
        appointment = _appointment(request, hub, appointment_id)
        body = VisitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = services.record_visit(
            acting_user(request), appointment, hub=hub, **body.validated_data
        )
        return Response(_shown(done))
