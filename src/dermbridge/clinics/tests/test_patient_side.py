"""The patient's side of a photography appointment (issue #13 items 3 and 4): the reminder two
working days before, the status page showing the appointment, confirming or asking to rebook
through the no-login link, and the did-not-attend rule (rebook once, then back to the GP)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.test import Client
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import reads, services
from dermbridge.clinics.models import Appointment, AppointmentStatus, Slot
from dermbridge.clinics.reminders import reminder_day
from dermbridge.clinics.tests.support import Hub, clinic_today, hub_referral, make_clinic, make_hub
from dermbridge.notifications.models import OutboxMessage, PatientStatusLink
from dermbridge.notifications.services import issue_status_link
from dermbridge.referrals.clocks import is_working_day
from dermbridge.referrals.models import Message, Referral, StateChange
from dermbridge.testing import World

# ---------------------------------------------------------------- reminders


def at(day: date, hour: int = 8) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def test_the_reminder_day_is_two_working_days_before_skipping_bank_holidays() -> None:
    assert reminder_day(date(2027, 5, 6)) == date(2027, 5, 4)  # Thursday: the Tuesday
    assert reminder_day(date(2027, 5, 10)) == date(2027, 5, 6)  # Monday: the Thursday
    # Tuesday 4 May 2027 follows the early May bank holiday (Monday 3 May): Thursday 29 April.
    assert reminder_day(date(2027, 5, 4)) == date(2027, 4, 29)
    # Tuesday 30 March 2027, after Good Friday and Easter Monday: Wednesday 24 March.
    assert reminder_day(date(2027, 3, 30)) == date(2027, 3, 24)


def plain_thursday() -> date:
    """A Thursday at least a week ahead, Monday to Thursday all working days."""
    day = timezone.localdate() + timedelta(days=7)
    while day.weekday() != 3 or not all(is_working_day(day - timedelta(n)) for n in range(4)):
        day += timedelta(days=1)
    return day


def tuesday_after_a_bank_holiday() -> date:
    """A Tuesday at least a week ahead after a bank holiday Monday, the Thursday and Friday
    before it working days (the spring and summer bank holidays, Easter)."""
    day = timezone.localdate() + timedelta(days=7)
    while not (
        day.weekday() == 1
        and is_working_day(day)
        and not is_working_day(day - timedelta(1))
        and all(is_working_day(day - timedelta(n)) for n in (4, 5))
    ):
        day += timedelta(days=1)
    return day


def _reminders(referral: Referral) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(referral=referral, event="appointment_reminder"))


def test_one_reminder_two_working_days_before_by_the_patients_channel(world: World) -> None:
    h = make_hub(world)
    thursday = plain_thursday()
    make_clinic(h, thursday, slots=3)
    referral = hub_referral(h)
    appointment = services.book(h.photographer, referral, hub=h.hub, site=h.site)
    assert services.queue_reminders(now=at(thursday - timedelta(3))) == 0  # Monday: too early
    assert _reminders(referral) == []
    tuesday = thursday - timedelta(2)
    assert services.queue_reminders(now=at(tuesday)) == 1  # Tuesday: due
    assert services.queue_reminders(now=at(tuesday, 9)) == 0  # run twice: once
    assert services.queue_reminders(now=at(tuesday + timedelta(1))) == 0  # and the next day
    (message,) = _reminders(referral)
    assert message.recipient == referral.patient.email
    assert f"{thursday:%A %-d %B %Y} at 9:00am" in message.body
    assert "Northgate Health Centre" in message.body and "make-up" in message.body
    assert f"{settings.SITE_URL}/status/" in message.body  # the link to confirm or rebook
    appointment.refresh_from_db()
    assert appointment.reminded_at is not None


def test_a_bank_holiday_moves_the_reminder_earlier(world: World) -> None:
    h = make_hub(world)
    tuesday = tuesday_after_a_bank_holiday()
    make_clinic(h, tuesday)
    referral = hub_referral(h)
    services.book(h.photographer, referral, hub=h.hub, site=h.site)
    assert services.queue_reminders(now=at(tuesday - timedelta(6))) == 0  # Wednesday
    # The Thursday before, not the Friday (which a count of weekdays alone would give).
    assert services.queue_reminders(now=at(tuesday - timedelta(5))) == 1
    assert services.queue_reminders(now=at(tuesday - timedelta(1))) == 0  # the holiday: done
    assert len(_reminders(referral)) == 1


def test_no_reminder_for_cancelled_or_moved_appointments(world: World) -> None:
    h = make_hub(world)
    thursday = plain_thursday()
    session = make_clinic(h, thursday, slots=4)
    cancelled_ref, moved_ref = hub_referral(h), hub_referral(h)
    cancelled = services.book(h.photographer, cancelled_ref, hub=h.hub, site=h.site)
    moving = services.book(h.photographer, moved_ref, hub=h.hub, site=h.site)
    services.cancel(h.photographer, cancelled, hub=h.hub, reason="Patient is in hospital")
    last = Slot.objects.filter(session=session).order_by("-starts_at").first()
    moved = services.move(h.photographer, moving, hub=h.hub, slot=last)
    assert services.queue_reminders(now=at(thursday - timedelta(2))) == 1  # the new one only
    assert _reminders(cancelled_ref) == []
    moving.refresh_from_db()
    moved.refresh_from_db()
    assert (moving.reminded_at, moved.reminded_at is not None) == (None, True)


def test_the_reminder_task_is_scheduled() -> None:
    from dermbridge.core.scheduler import PERIODIC_TASKS

    assert "dermbridge.clinics.tasks.send_appointment_reminders" in PERIODIC_TASKS


# ---------------------------------------------------------------- the status page


def _link(referral: Referral) -> str:
    return issue_status_link(referral).removeprefix(settings.SITE_URL)


def _booked(world: World) -> tuple[Hub, Referral, Appointment, str]:
    h = make_hub(world)
    make_clinic(h, slots=3)
    referral = hub_referral(h)
    appointment = services.book(h.photographer, referral, hub=h.hub, site=h.site)
    return h, referral, appointment, _link(referral)


def test_the_status_page_shows_the_appointment_in_plain_english(world: World) -> None:
    _, _, appointment, link = _booked(world)
    page = Client().get(link).content.decode()
    when = f"{timezone.localtime(appointment.slot.starts_at):%A %-d %B %Y}"
    assert f"Your photography appointment is on {when} at 9:00am, at Northgate Health" in page
    assert "1 High Street, Northgate" in page and "What to bring:" in page
    assert f"appointment/{appointment.pk}/confirm/" in page and "csrfmiddlewaretoken" in page


def test_the_patient_confirms_once_audited_as_the_link(world: World) -> None:
    h, referral, appointment, link = _booked(world)
    client = Client()
    first = client.post(f"{link}appointment/{appointment.pk}/confirm/")
    assert first.status_code == 200 and "you have confirmed" in first.content.decode()
    assert first["Cache-Control"] == "no-store"
    again = client.post(f"{link}appointment/{appointment.pk}/confirm/")
    assert "already confirmed" in again.content.decode()
    appointment.refresh_from_db()
    assert appointment.confirmed_at is not None
    (event,) = AuditEvent.objects.filter(action="clinics.appointment.confirm")
    assert event.actor_id is None and event.organisation_id == h.hub.pk
    assert (
        event.detail["link"] == PatientStatusLink.objects.filter(referral=referral).latest("pk").pk
    )
    assert "You have confirmed this appointment" in client.get(link).content.decode()
    # The hub sees it.
    assert "Confirmed by the patient" in _book_page(h, referral)


def _book_page(h: Hub, referral: Referral) -> str:
    staff = Client()
    staff.force_login(h.photographer)
    return staff.get(f"/hubs/{h.hub.pk}/bookings/{referral.pk}/").content.decode()


def test_another_patients_link_cannot_confirm_this_appointment(world: World) -> None:
    h, _, appointment, _ = _booked(world)
    other = hub_referral(h)
    services.book(h.photographer, other, hub=h.hub, site=h.site)
    response = Client().post(f"{_link(other)}appointment/{appointment.pk}/confirm/")
    assert response.status_code == 404 and "Nothing has been changed" in response.content.decode()
    rebook = Client().post(f"{_link(other)}appointment/{appointment.pk}/rebook/")
    assert rebook.status_code == 404
    appointment.refresh_from_db()
    assert (appointment.confirmed_at, appointment.status) == (None, AppointmentStatus.BOOKED)
    assert not AuditEvent.objects.filter(action__startswith="clinics.appointment.confirm").exists()


def test_an_expired_or_unknown_link_changes_nothing_and_says_so(world: World) -> None:
    _, referral, appointment, link = _booked(world)
    PatientStatusLink.objects.filter(referral=referral).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    for url in (link, "/status/" + "x" * 43 + "/"):
        response = Client().post(f"{url}appointment/{appointment.pk}/confirm/")
        assert response.status_code == 404
        assert "Nothing has been changed" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.confirmed_at is None


def test_the_answer_needs_the_pages_csrf_token(world: World) -> None:
    _, _, appointment, link = _booked(world)
    client = Client(enforce_csrf_checks=True)
    assert client.post(f"{link}appointment/{appointment.pk}/confirm/").status_code == 403
    client.get(link)  # the page sets the cookie its form carries
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    ok = client.post(f"{link}appointment/{appointment.pk}/confirm/", {"csrfmiddlewaretoken": token})
    assert ok.status_code == 200
    assert Client().get(f"{link}appointment/{appointment.pk}/confirm/").status_code == 405


def test_a_confirmed_appointment_that_is_moved_needs_confirming_again(world: World) -> None:
    h, _, appointment, link = _booked(world)
    Client().post(f"{link}appointment/{appointment.pk}/confirm/")
    moved = services.move(h.photographer, appointment, hub=h.hub, site=h.site)
    assert moved.confirmed_at is None
    page = Client().get(link).content.decode()
    assert "Your appointment has changed." in page and "You have confirmed" not in page
    assert f"appointment/{moved.pk}/confirm/" in page
    # The old page's button: stale, nothing changed.
    stale = Client().post(f"{link}appointment/{appointment.pk}/confirm/")
    assert stale.status_code == 409 and "has changed since" in stale.content.decode()
    assert Client().post(f"{link}appointment/{moved.pk}/confirm/").status_code == 200


def test_asking_to_rebook_frees_the_slot_and_puts_the_referral_back_marked(world: World) -> None:
    h, referral, appointment, link = _booked(world)
    response = Client().post(
        f"{link}appointment/{appointment.pk}/rebook/", {"note": "  Away until the 20th;\nmornings"}
    )
    assert response.status_code == 200 and "will contact you" in response.content.decode()
    again = Client().post(f"{link}appointment/{appointment.pk}/rebook/", {"note": "again"})
    assert "already asked" in again.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.patient_note == "Away until the 20th; mornings"
    (row,) = reads.booking_list(h.photographer, h.hub)
    assert row.referral == referral and row.previous == [appointment]
    staff = Client()
    staff.force_login(h.photographer)
    page = staff.get(f"/hubs/{h.hub.pk}/bookings/").content.decode()
    assert "Patient asked to rebook" in page and "Away until the 20th; mornings" in page
    assert OutboxMessage.objects.filter(event="appointment_rebook_requested").count() == 1
    assert AuditEvent.objects.filter(action="clinics.appointment.rebook_request").count() == 1
    assert "You asked for a new appointment" in Client().get(link).content.decode()
    # The slot is free for the next patient; a confirm after asking to rebook is stale.
    assert services.book(h.photographer, hub_referral(h), hub=h.hub, slot=appointment.slot)
    assert Client().post(f"{link}appointment/{appointment.pk}/confirm/").status_code == 409


# ---------------------------------------------------------------- did not attend


def test_did_not_attend_rebook_once_then_back_to_the_gp(world: World) -> None:
    h = make_hub(world)
    first_slot, second_slot = Slot.objects.filter(session=clinic_today(h)).order_by("starts_at")
    referral = hub_referral(h)
    first = Appointment.objects.create(slot=first_slot, referral=referral, booked_by=h.admin)
    services.record_visit(h.photographer, first, hub=h.hub, outcome="did_not_attend")
    (row,) = reads.booking_list(h.photographer, h.hub)  # back on the list, to rebook once
    assert row.previous == [first]
    missed = OutboxMessage.objects.get(event="appointment_missed")
    assert "will contact you with a new appointment" in missed.body
    assert not OutboxMessage.objects.filter(event="appointment_returned_to_gp").exists()

    second = Appointment.objects.create(slot=second_slot, referral=referral, booked_by=h.admin)
    services.record_visit(h.photographer, second, hub=h.hub, outcome="did_not_attend")
    assert reads.booking_list(h.photographer, h.hub) == []  # returned to the GP
    to_gp = OutboxMessage.objects.filter(event="appointment_returned_to_gp")
    assert {m.recipient for m in to_gp} == {
        referral.referrer.email.lower(),
        referral.referring_org.email.lower(),
    } - {""}
    assert all(referral.reference in m.body and "did not attend 2" in m.body for m in to_gp)
    told = OutboxMessage.objects.filter(event="appointment_missed").order_by("id").last()
    assert told is not None and "told your GP practice" in told.body
    referral.refresh_from_db()
    # The GP sees it on the referral: a message from the hub, a step in its history (through
    # the referrals app); the hub keeps it, so it can still book by hand if the GP asks.
    assert referral.state == "draft" and referral.imaging_hub == h.hub
    (message,) = Message.objects.filter(referral=referral)
    assert message.organisation == h.hub and "did not attend 2" in message.body
    assert StateChange.objects.filter(referral=referral, action="returned_by_hub").exists()
    assert "Returned to the GP" in _book_page(h, referral)
    events = AuditEvent.objects.filter(action="clinics.referral.did_not_attend").order_by("seq")
    assert [e.detail["returned_to_gp"] for e in events] == [False, True]


def test_dna_counts_per_hub(world: World) -> None:
    h = make_hub(world)
    slots = list(Slot.objects.filter(session=clinic_today(h)).order_by("starts_at"))
    twice, once = hub_referral(h), hub_referral(h)
    for slot, referral in zip(slots, (twice, twice), strict=True):
        a = Appointment.objects.create(slot=slot, referral=referral, booked_by=h.admin)
        services.record_visit(h.photographer, a, hub=h.hub, outcome="did_not_attend")
    later = _make_today_session(h)
    a = Appointment.objects.create(slot=later, referral=once, booked_by=h.admin)
    services.record_visit(h.photographer, a, hub=h.hub, outcome="did_not_attend")
    today = timezone.localdate()
    counts = services.dna_counts(h.hub, today, today)
    assert (counts.did_not_attend, counts.rebooked, counts.returned_to_gp) == (3, 2, 1)
    assert services.dna_counts(h.hub, today + timedelta(days=1), today + timedelta(days=7)) == (
        services.DnaCounts(0, 0, 0)
    )
    from dermbridge.clinics.tests.support import other_hub

    hub_b, _, _ = other_hub(world)
    assert services.dna_counts(hub_b, today, today).did_not_attend == 0


def _make_today_session(h: Hub) -> Slot:
    from dermbridge.clinics.schedule import _make_session

    session = _make_session(h.site, timezone.localdate(), time(1, 0), time(1, 30), 30, 1, [])
    slot = Slot.objects.filter(session=session).first()
    assert slot is not None
    return slot


def test_the_booking_message_carries_the_link_to_confirm(world: World) -> None:
    _, referral, _, _ = _booked(world)
    message = OutboxMessage.objects.get(referral=referral, event="appointment_booked")
    assert f"here:\n{settings.SITE_URL}/status/" in message.body
    link = message.body.split("here:\n", 1)[1].split("\n", 1)[0]
    page = Client().get(link.removeprefix(settings.SITE_URL)).content.decode()
    assert "Your photography appointment is on" in page
