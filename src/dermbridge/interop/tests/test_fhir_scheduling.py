"""A hub's clinics as FHIR Schedule, Slot and Appointment: the resources validate against
fhir.resources, the searches filter by date, site, schedule, status and NHS number, and only
the hub's own staff see them (others: 404 recorded, empty searches, nothing of the patient)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from dermbridge.accounts.models import Role
from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import services
from dermbridge.clinics.models import Appointment, AppointmentStatus, ClinicSession
from dermbridge.clinics.patient import confirm
from dermbridge.clinics.tests.support import (
    Hub,
    hub_referral,
    make_clinic,
    make_hub,
    next_working_day,
    other_hub,
)
from dermbridge.interop import codes
from dermbridge.interop.fhir.scheduling import appointment_resource, schedule_resource
from dermbridge.interop.tests.test_fhir_api import client_for
from dermbridge.notifications.services import issue_status_link
from dermbridge.testing import World, make_user

FHIR = "application/fhir+json"


@pytest.fixture
def clinic(world: World) -> tuple[Hub, ClinicSession, ClinicSession, Appointment]:
    """Two clinics a week apart; the first has one appointment booked (its first slot)."""
    h = make_hub(world)
    first = make_clinic(h)
    later = make_clinic(h, next_working_day(first.date + timedelta(days=6)))
    booked = services.book(h.photographer, hub_referral(h), hub=h.hub, site=h.site)
    return h, first, later, booked


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def _get(user: Any, path: str) -> dict[str, Any]:
    response = client_for(user).get(path)
    assert response.status_code == 200, (path, response.content)
    assert response["Content-Type"].startswith(FHIR)
    return response.json()  # type: ignore[no-any-return]


def test_the_resources_validate_against_fhir_r4(clinic: Any) -> None:
    h, first, _, booked = clinic
    for path in (
        f"/fhir/Schedule/{first.pk}",
        f"/fhir/Slot/{booked.slot_id}",
        f"/fhir/Appointment/{booked.pk}",
    ):
        body = _get(h.admin, path)
        get_fhir_model_class(body["resourceType"]).model_validate(body)
    schedule = _get(h.admin, f"/fhir/Schedule/{first.pk}")
    assert schedule["active"] is True
    assert schedule["actor"][0]["identifier"]["value"] == str(h.site.pk)
    assert schedule["actor"][1] == {"type": "Practitioner", "display": str(h.photographer)}
    assert _get(h.admin, f"/fhir/Slot/{booked.slot_id}")["status"] == "busy"
    appointment = _get(h.photographer, f"/fhir/Appointment/{booked.pk}")
    patient = booked.referral.patient
    # Not confirmed by the patient yet: pending, the patient's part needs action.
    assert appointment["status"] == "pending"
    assert appointment["slot"] == [{"reference": f"Slot/{booked.slot_id}"}]
    assert appointment["basedOn"] == [{"reference": f"ServiceRequest/{booked.referral.reference}"}]
    who, where = appointment["participant"]
    assert who["actor"]["identifier"] == {
        "system": codes.NHS_NUMBER_SYSTEM,
        "value": patient.nhs_number,
    }
    assert who["actor"]["reference"] == f"Patient/{patient.pk}"
    assert where["actor"]["type"] == "Location"
    assert (who["status"], where["status"]) == ("needs-action", "accepted")
    assert AuditEvent.objects.filter(
        action="clinics.appointment.view_fhir", actor_id=h.photographer.pk
    ).exists()


@pytest.mark.parametrize(
    ("ours", "fhir"),
    [
        (AppointmentStatus.ATTENDED, "fulfilled"),
        (AppointmentStatus.DID_NOT_ATTEND, "noshow"),
        (AppointmentStatus.NOT_PHOTOGRAPHED, "fulfilled"),
        (AppointmentStatus.CANCELLED, "cancelled"),
        (AppointmentStatus.MOVED, "cancelled"),
    ],
)
def test_each_outcome_maps_to_a_fhir_status(clinic: Any, ours: str, fhir: str) -> None:
    _, _, _, booked = clinic
    Appointment.objects.filter(pk=booked.pk).update(status=ours, reason="Rash too widespread")
    booked.refresh_from_db()
    resource = appointment_resource(booked)
    assert resource["status"] == fhir
    assert resource["appointmentType"]["coding"][0]["code"] == ours
    assert ("cancelationReason" in resource) == (fhir == "cancelled")


def test_the_patients_answer_is_the_appointments_status(clinic: Any) -> None:
    """Booked and told is "pending" until the patient confirms through their status link
    (then "booked", the patient "accepted"); asking to rebook declines it."""
    h, _, _, booked = clinic
    token = issue_status_link(booked.referral).rstrip("/").rsplit("/", 1)[1]
    assert confirm(token, booked.pk).status == 200
    booked.refresh_from_db()
    resource = appointment_resource(booked)
    assert resource["status"] == "booked"
    assert [p["status"] for p in resource["participant"]] == ["accepted", "accepted"]
    assert _ids(_get(h.admin, "/fhir/Appointment?status=booked")) == [str(booked.pk)]
    assert _get(h.admin, "/fhir/Appointment?status=pending")["total"] == 0
    Appointment.objects.filter(pk=booked.pk).update(
        status=AppointmentStatus.CANCELLED, rebook_requested_at=timezone.now()
    )
    booked.refresh_from_db()
    resource = appointment_resource(booked)
    assert resource["status"] == "cancelled"
    assert resource["participant"][0]["status"] == "declined"


def test_a_closed_day_is_an_inactive_schedule_with_unavailable_slots(world: World) -> None:
    h = make_hub(world)
    session = make_clinic(h)
    services.add_closure(h.admin, h.hub, day=session.date, reason="Flooding")
    session.refresh_from_db()
    assert schedule_resource(session)["active"] is False
    found = _get(h.admin, f"/fhir/Slot?schedule=Schedule/{session.pk}&status=busy-unavailable")
    assert found["total"] == 4
    assert _get(h.admin, "/fhir/Schedule?active=false")["total"] == 1


def test_the_searches_filter_by_date_site_schedule_status_and_nhs_number(clinic: Any) -> None:
    h, first, later, booked = clinic
    d1, d2 = first.date.isoformat(), later.date.isoformat()
    # Schedule: by day of the session, and by site.
    assert _ids(_get(h.admin, f"/fhir/Schedule?date=ge{d1}")) == [str(first.pk), str(later.pk)]
    assert _ids(_get(h.admin, f"/fhir/Schedule?date=gt{d1}")) == [str(later.pk)]
    assert _ids(_get(h.admin, f"/fhir/Schedule?date={d2}")) == [str(later.pk)]
    assert _ids(_get(h.admin, f"/fhir/Schedule?date=ge{d1}&date=lt{d2}")) == [str(first.pk)]
    assert _get(h.admin, f"/fhir/Schedule?actor=Location/{h.site.pk}")["total"] == 2
    assert _get(h.admin, f"/fhir/Schedule?actor=Location/{h.site.pk + 999}")["total"] == 0
    # Slot: by schedule, start and free/busy; _count bounds the page, not the total.
    slots = _get(h.admin, f"/fhir/Slot?schedule={first.pk}")
    assert slots["total"] == 4
    assert [e["resource"]["status"] for e in slots["entry"]] == ["busy", "free", "free", "free"]
    assert _get(h.admin, f"/fhir/Slot?start=ge{d2}")["total"] == 4
    assert _get(h.admin, f"/fhir/Slot?start=lt{d2}&status=free")["total"] == 3
    assert _get(h.admin, "/fhir/Slot?status=busy")["total"] == 1
    page = _get(h.admin, "/fhir/Slot?_count=2")
    assert (page["total"], len(page["entry"])) == (8, 2)
    start = booked.slot.starts_at.astimezone(timezone.get_current_timezone())
    exact = start.isoformat().replace("+", "%2B")
    assert _ids(_get(h.admin, f"/fhir/Slot?start=eq{exact}")) == [str(booked.slot_id)]
    # Appointment: by NHS number (with or without the system), date, site, status, slot.
    nhs = booked.referral.patient.nhs_number
    for query in (
        f"patient.identifier={codes.NHS_NUMBER_SYSTEM}|{nhs}",
        f"patient.identifier={nhs}",
        f"date={d1}",
        f"location=Location/{h.site.pk}",
        "status=pending",
        f"slot=Slot/{booked.slot_id}",
    ):
        assert _ids(_get(h.admin, f"/fhir/Appointment?{query}")) == [str(booked.pk)], query
    for query in (
        "patient.identifier=9434765919",
        f"date={d2}",
        "status=noshow",
        "status=booked",
    ):
        assert _get(h.admin, f"/fhir/Appointment?{query}")["total"] == 0, query


@pytest.mark.parametrize(
    "query",
    [
        "Slot?start=tomorrow",
        "Slot?status=maybe",
        "Schedule?colour=blue",
        "Appointment?patient.identifier=http://example.org|123",
        "Appointment?status=arrived-late",
        "Schedule?actor=Practitioner/1",
        "Slot?_count=lots",
    ],
)
def test_a_search_it_cannot_do_is_a_400_outcome(clinic: Any, query: str) -> None:
    h = clinic[0]
    response = client_for(h.admin).get(f"/fhir/{query}")
    assert response.status_code == 400, response.content
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_capability_statement_names_the_scheduling_resources(world: World) -> None:
    body = client_for(None).get("/fhir/metadata").json()
    found = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert {"Schedule", "Slot", "Appointment"} <= set(found)
    params = {p["name"]: p["type"] for p in found["Slot"]["searchParam"]}
    assert params["start"] == "date" and params["schedule"] == "reference"


def test_only_the_hubs_own_staff_see_its_clinics(world: World, clinic: Any) -> None:
    h, first, _, booked = clinic
    _, pia, olga = other_hub(world)
    patient = booked.referral.patient
    secrets = [patient.nhs_number.encode(), patient.family_name.encode()]
    outsiders = [
        world.alice,  # the referring GP
        world.derek,  # the dermatology service
        world.sam,
        pia,  # another hub's photographer and administrator
        olga,
        make_user("rhys", h.hub, Role.REFERRER),  # at the hub, not running its clinics
    ]
    reads = [
        f"/fhir/Schedule/{first.pk}",
        f"/fhir/Slot/{booked.slot_id}",
        f"/fhir/Appointment/{booked.pk}",
    ]
    searches = [
        "/fhir/Schedule",
        "/fhir/Slot",
        "/fhir/Appointment",
        f"/fhir/Appointment?patient.identifier={patient.nhs_number}",
        f"/fhir/Slot?schedule={first.pk}",
    ]
    for user in outsiders:
        client = client_for(user)
        for path in reads:
            response = client.get(path)
            assert response.status_code == 404, (user, path)
            assert not any(s in response.content for s in secrets)
            assert AuditEvent.objects.filter(
                action="access.denied", actor_id=user.pk, request_id=response["X-Request-ID"]
            ).exists(), (user, path)
        for path in searches:
            response = client.get(path)
            assert response.status_code == 200 and response.json()["total"] == 0, (user, path)
    # Another hub's staff asking for this hub by ODS code: still nothing.
    assert _get(olga, f"/fhir/Slot?hub={h.hub.ods_code}")["total"] == 0
    # Not signed in: 401.
    for path in reads + searches:
        assert client_for(None).get(path).status_code == 401, path
    # The hub's own staff, and nobody else, read the appointment: its reads are audited.
    assert _get(h.admin, f"/fhir/Appointment?hub={h.hub.ods_code}")["total"] == 1
    assert not AuditEvent.objects.filter(
        action="clinics.appointment.view_fhir", actor_id__in=[u.pk for u in outsiders]
    ).exists()
