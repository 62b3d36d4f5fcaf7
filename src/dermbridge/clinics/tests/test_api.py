"""The clinics REST API: slots and appointments, booking, moving, cancelling and the visit,
with the domain errors as problem documents; and the schema lists every operation."""

from __future__ import annotations

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dermbridge.accounts.models import User
from dermbridge.audit.models import AuditEvent
from dermbridge.clinics.models import Appointment, AppointmentStatus, Slot
from dermbridge.clinics.tests.support import clinic_today, hub_referral, make_clinic, make_hub
from dermbridge.testing import World


def api(user: User) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_slots_and_booking_through_the_api(world: World) -> None:
    h = make_hub(world)
    session = make_clinic(h, slots=2)
    base = f"/api/clinics/hubs/{h.hub.pk}"
    client = api(h.photographer)
    listed = client.get(f"{base}/slots/", {"start": session.date.isoformat()}).json()
    assert listed["count"] == 2 and all(s["free"] for s in listed["results"])
    referral = hub_referral(h)
    made = client.post(
        f"{base}/appointments/", {"referral": referral.reference, "site": h.site.pk}, format="json"
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["referral"] == referral.reference and body["status"] == "booked"
    assert body["slot"] == listed["results"][0]["id"]
    free = client.get(f"{base}/slots/", {"start": session.date.isoformat(), "free": "true"})
    assert free.json()["count"] == 1
    # The same slot again: 409 with the reason.
    other = hub_referral(h)
    taken = client.post(
        f"{base}/appointments/", {"referral": other.reference, "slot": body["slot"]}, format="json"
    )
    assert taken.status_code == 409 and "just been booked" in taken.json()["detail"]
    one = client.get(f"{base}/appointments/{body['id']}/")
    assert one.json()["nhs_number"] == referral.patient.nhs_number
    assert AuditEvent.objects.filter(action="clinics.appointment.view").count() == 1
    listing = client.get(f"{base}/appointments/", {"start": session.date.isoformat()}).json()
    assert [a["id"] for a in listing["results"]] == [body["id"]]
    assert AuditEvent.objects.filter(action="clinics.appointment.list").exists()
    last = Slot.objects.filter(session=session).order_by("-starts_at")[0]
    moved = client.post(f"{base}/appointments/{body['id']}/move/", {"slot": last.pk}, format="json")
    assert moved.status_code == 201 and moved.json()["moved_from"] == body["id"]
    new_id = moved.json()["id"]
    no_reason = client.post(f"{base}/appointments/{new_id}/cancel/", {}, format="json")
    assert no_reason.status_code == 400
    cancelled = client.post(
        f"{base}/appointments/{new_id}/cancel/", {"reason": "Patient unwell"}, format="json"
    )
    assert cancelled.json()["status"] == "cancelled"


def test_visit_through_the_api(world: World) -> None:
    h = make_hub(world)
    slot = clinic_today(h).slots.first()
    assert slot is not None
    referral = hub_referral(h)
    a = Appointment.objects.create(slot=slot, referral=referral, booked_by=h.photographer)
    url = f"/api/clinics/hubs/{h.hub.pk}/appointments/{a.pk}/visit/"
    client = api(h.photographer)
    missing = client.post(url, {"outcome": "not_photographed"}, format="json")
    assert missing.status_code == 400
    # Attended means photographed: refused with what is missing (the visit page's steps).
    early = client.post(url, {"outcome": "attended"}, format="json")
    assert early.status_code == 400
    assert "cannot be recorded as attended yet" in early.content.decode()
    assert "Lesion 1: take the overview" in early.content.decode()
    done = client.post(url, {"outcome": "did_not_attend"}, format="json")
    assert done.json()["status"] == AppointmentStatus.DID_NOT_ATTEND
    again = client.post(url, {"outcome": "attended"}, format="json")
    assert again.status_code == 409


def test_the_schema_documents_the_clinics_operations(world: World) -> None:
    schema = api(world.pat).get("/api/schema/", {"format": "json"}).json()
    operations = {
        op["operationId"]
        for path, ops in schema["paths"].items()
        if path.startswith("/api/clinics/")
        for op in ops.values()
    }
    assert operations == {
        "clinics_slots_list",
        "clinics_appointments_list",
        "clinics_appointments_create",
        "clinics_appointments_retrieve",
        "clinics_appointments_move",
        "clinics_appointments_cancel",
        "clinics_appointments_visit",
    }
