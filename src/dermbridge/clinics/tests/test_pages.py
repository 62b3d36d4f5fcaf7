"""The hub's pages: clinics and utilisation, the booking list, booking, moving and cancelling,
and the photographer's day list (phone-sized markup, links to the lesion photo page, visit
outcomes), each read of a patient audited by the reads it calls."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import services
from dermbridge.clinics.models import Appointment, AppointmentStatus, ClinicSession, Slot
from dermbridge.clinics.tests.support import (
    clinic_today,
    hub_referral,
    make_clinic,
    make_hub,
    next_working_day,
    ready_to_attend,
)
from dermbridge.notifications.models import OutboxMessage
from dermbridge.referrals.models import ReferralKind
from dermbridge.testing import World


def test_the_hub_page_shows_clinics_and_utilisation_and_the_admin_defines_them(
    client: Client, world: World
) -> None:
    h = make_hub(world)
    client.force_login(h.admin)
    assert client.get("/hubs/")["Location"] == f"/hubs/{h.hub.pk}/"
    day = next_working_day()
    response = client.post(
        f"/hubs/{h.hub.pk}/sessions/",
        {
            "site": h.site.pk,
            "day": day.isoformat(),
            "start": "09:00",
            "end": "10:00",
            "slot_minutes": "15",
            "capacity": "2",
            "photographers": [str(h.photographer.pk)],
        },
    )
    assert response.status_code == 302
    session = ClinicSession.objects.get()
    assert session.slots.count() == 8
    client.post(
        f"/hubs/{h.hub.pk}/templates/",
        {
            "site": h.site.pk,
            "weekday": "1",
            "start": "13:00",
            "end": "14:00",
            "slot_minutes": "20",
            "capacity": "1",
        },
    )
    client.post(f"/hubs/{h.hub.pk}/generate/", {"weeks": "2"})
    assert ClinicSession.objects.filter(template__isnull=False).count() >= 1
    page = client.get(f"/hubs/{h.hub.pk}/").content.decode()
    assert "Capacity and utilisation" in page and "Northgate Health Centre" in page
    assert "0 of 8" in page
    # A photographer sees the page but cannot define clinics (403, nothing made).
    client.force_login(h.photographer)
    assert client.get(f"/hubs/{h.hub.pk}/").status_code == 200
    refused = client.post(
        f"/hubs/{h.hub.pk}/closures/", {"day": day.isoformat(), "reason": "Training"}
    )
    assert refused.status_code == 403
    assert client.post(f"/hubs/{h.hub.pk}/generate/", {"weeks": "99"}).status_code == 403
    client.force_login(h.admin)
    bad = client.post(f"/hubs/{h.hub.pk}/generate/", {"weeks": "99"}, follow=True)
    assert "Check the form" in bad.content.decode()  # the problem shown on the page


def test_book_move_and_cancel_through_the_pages(client: Client, world: World) -> None:
    h = make_hub(world)
    session = make_clinic(h, slots=3)
    usc = hub_referral(h, kind=ReferralKind.URGENT_CANCER)
    client.force_login(h.photographer)
    listing = client.get(f"/hubs/{h.hub.pk}/bookings/").content.decode()
    assert usc.patient.family_name in listing and "Urgent suspected cancer" in listing
    page = client.get(f"/hubs/{h.hub.pk}/bookings/{usc.pk}/").content.decode()
    assert "Book and tell the patient" in page
    assert AuditEvent.objects.filter(action="clinics.referral.view").count() == 1
    client.post(f"/hubs/{h.hub.pk}/bookings/{usc.pk}/", {"site": h.site.pk})
    appointment = Appointment.objects.get()
    assert appointment.slot == Slot.objects.filter(session=session).order_by("starts_at")[0]
    last = Slot.objects.filter(session=session).order_by("-starts_at")[0]
    client.post(f"/hubs/{h.hub.pk}/appointments/{appointment.pk}/move/", {"slot": last.pk})
    moved = Appointment.objects.get(status=AppointmentStatus.BOOKED)
    assert moved.slot == last
    client.post(f"/hubs/{h.hub.pk}/appointments/{moved.pk}/cancel/", {"reason": "Asked to"})
    assert not Appointment.objects.filter(status=AppointmentStatus.BOOKED).exists()
    events = set(OutboxMessage.objects.filter(referral=usc).values_list("event", flat=True))
    assert events == {"appointment_booked", "appointment_moved", "appointment_cancelled"}
    # Booking twice from a stale page says why instead of failing.
    client.post(f"/hubs/{h.hub.pk}/bookings/{usc.pk}/", {"slot": last.pk})
    again = client.post(
        f"/hubs/{h.hub.pk}/bookings/{usc.pk}/", {"slot": last.pk}, follow=True
    ).content.decode()
    assert "already has an appointment" in again


def test_the_day_list_shows_the_lesions_to_photograph_and_records_the_visit(
    client: Client, world: World
) -> None:
    h = make_hub(world)
    session = clinic_today(h)
    referral = hub_referral(h)
    slot = session.slots.first()
    assert slot is not None
    appointment = Appointment.objects.create(slot=slot, referral=referral, booked_by=h.photographer)
    lesion = referral.lesions.get()
    client.force_login(h.photographer)
    response = client.get(f"/hubs/{h.hub.pk}/day/")
    page = response.content.decode()
    assert 'name="viewport"' in page and "width=device-width" in page
    assert 'href="/hubs/">Clinics</a>' in page  # the menu names the hub's pages
    assert referral.patient.nhs_number in page and lesion.body_site_label in page
    assert reverse("lesion-photos", args=[referral.pk, lesion.pk]) in page
    event = AuditEvent.objects.filter(action="clinics.day_list.view").get()
    assert event.detail["referrals"] == [referral.reference]
    assert event.detail["photographer"] == h.photographer.pk
    # The hub photographer may open the lesion photo page the day list links to.
    assert client.get(reverse("lesion-photos", args=[referral.pk, lesion.pk])).status_code == 200
    # Attended means photographed: refused, saying what is missing, until the visit's steps.
    refused = client.post(
        f"/hubs/{h.hub.pk}/appointments/{appointment.pk}/visit/",
        {"outcome": "attended", "next": "day"},
        follow=True,
    ).content.decode()
    assert "cannot be recorded as attended yet" in refused and "NHS number" in refused
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    ready_to_attend(h, appointment)
    response = client.post(
        f"/hubs/{h.hub.pk}/appointments/{appointment.pk}/visit/",
        {"outcome": "attended", "next": "day"},
    )
    assert response["Location"] == f"/hubs/{h.hub.pk}/day/"
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ATTENDED
    # Another day, another site filter: nothing listed, still audited.
    tomorrow = timezone.localdate() + timedelta(days=1)
    other = client.get(f"/hubs/{h.hub.pk}/day/", {"date": tomorrow.isoformat()})
    assert referral.patient.nhs_number not in other.content.decode()
    assert AuditEvent.objects.filter(action="clinics.day_list.view").count() == 3  # + follow


def test_a_clinic_at_another_hubs_site_is_a_recorded_404(client: Client, world: World) -> None:
    """The one-off and weekly clinic forms share one view: a site that is not this hub's is
    answered 404 and recorded, and nothing is made."""
    from dermbridge.clinics.models import ClinicSession, SessionTemplate
    from dermbridge.clinics.tests.support import other_hub

    h = make_hub(world)
    hub_b, _, olga = other_hub(world)
    theirs = services.create_site(olga, hub_b, name="Southgate Clinic", address="2 Low Road")
    client.force_login(h.admin)
    times = {"start": "09:00", "end": "10:00", "slot_minutes": "15", "capacity": "1"}
    for path, extra in (
        ("sessions", {"day": next_working_day().isoformat()}),
        ("templates", {"weekday": "1"}),
    ):
        response = client.post(f"/hubs/{h.hub.pk}/{path}/", {**times, **extra, "site": theirs.pk})
        assert response.status_code == 404, path
        assert AuditEvent.objects.filter(
            action="access.denied", request_id=response["X-Request-ID"]
        ).exists()
    assert not ClinicSession.objects.exists() and not SessionTemplate.objects.exists()
    # Its own site: both made.
    for path, extra in (
        ("sessions", {"day": next_working_day().isoformat()}),
        ("templates", {"weekday": "1"}),
    ):
        client.post(f"/hubs/{h.hub.pk}/{path}/", {**times, **extra, "site": h.site.pk})
    assert ClinicSession.objects.count() == 1 and SessionTemplate.objects.count() == 1
