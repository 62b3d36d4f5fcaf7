"""Booking, moving and cancelling: the booking list (USC first, with the clock), the earliest
free slot, no double booking, hub staff only, and the patient told through the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import reads, services
from dermbridge.clinics.models import Appointment, AppointmentStatus, Slot
from dermbridge.clinics.tests.support import (
    clinic_today,
    hub_referral,
    make_clinic,
    make_hub,
    other_hub,
)
from dermbridge.core.errors import InvalidInput, NotPermitted, TransitionNotAllowed
from dermbridge.notifications.models import OutboxMessage
from dermbridge.referrals.models import ReferralKind, State
from dermbridge.testing import World


def test_the_booking_list_puts_urgent_suspected_cancer_first_with_its_clock(
    world: World,
) -> None:
    h = make_hub(world)
    make_clinic(h)
    routine = hub_referral(h)
    usc = hub_referral(h, kind=ReferralKind.URGENT_CANCER)
    booked = hub_referral(h)
    services.book(h.photographer, booked, hub=h.hub, site=h.site)
    make_other = hub_referral(h)
    make_other.imaging_hub = None  # not sent to the hub: not on its list
    type(make_other).objects.filter(pk=make_other.pk).update(imaging_hub=None)
    rows = reads.booking_list(h.photographer, h.hub)
    assert [w.referral for w in rows] == [usc, routine]
    assert rows[0].fds_due is not None and rows[0].fds_days_left in (27, 28)
    assert rows[1].fds_due is None and rows[1].waiting_days == 0
    event = AuditEvent.objects.filter(action="clinics.booking_list.view").get()
    assert event.detail["referrals"] == [usc.reference, routine.reference]


def test_booking_offers_the_earliest_free_slot_at_the_site_and_tells_the_patient(
    world: World,
) -> None:
    h = make_hub(world)
    session = make_clinic(h, slots=3)
    first, second = hub_referral(h), hub_referral(h)
    a = services.book(h.photographer, first, hub=h.hub, site=h.site)
    b = services.book(h.admin, second, hub=h.hub, site=h.site)
    slots = list(Slot.objects.filter(session=session).order_by("starts_at"))
    assert (a.slot, b.slot) == (slots[0], slots[1])
    message = OutboxMessage.objects.get(referral=first, event="appointment_booked")
    assert message.recipient == first.patient.email
    assert "Northgate Health Centre" in message.body and "9:00am" in message.body
    assert AuditEvent.objects.filter(action="clinics.appointment.book").count() == 2
    # The same referral cannot hold two appointments; a held slot cannot be booked again.
    with pytest.raises(TransitionNotAllowed, match="already has an appointment"):
        services.book(h.photographer, first, hub=h.hub, site=h.site)
    with pytest.raises(TransitionNotAllowed, match="just been booked"):
        services.book(h.photographer, hub_referral(h), hub=h.hub, slot=slots[0])


def test_the_database_refuses_a_second_live_appointment_in_a_slot(world: World) -> None:
    h = make_hub(world)
    make_clinic(h)
    a = services.book(h.photographer, hub_referral(h), hub=h.hub, site=h.site)
    other = hub_referral(h)
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(slot=a.slot, referral=other, booked_by=h.photographer)
    # A cancelled appointment frees its slot.
    services.cancel(h.photographer, a, hub=h.hub, reason="Patient asked")
    again = services.book(h.photographer, other, hub=h.hub, slot=a.slot)
    assert again.slot == a.slot


def test_move_keeps_the_old_appointment_and_tells_the_patient(world: World) -> None:
    h = make_hub(world)
    session = make_clinic(h, slots=3)
    referral = hub_referral(h)
    a = services.book(h.photographer, referral, hub=h.hub, site=h.site)
    last = Slot.objects.filter(session=session).order_by("-starts_at").first()
    assert last is not None
    b = services.move(h.photographer, a, hub=h.hub, slot=last)
    a.refresh_from_db()
    assert (a.status, b.status, b.moved_from) == (AppointmentStatus.MOVED, "booked", a)
    assert OutboxMessage.objects.filter(referral=referral, event="appointment_moved").count() == 1
    with pytest.raises(TransitionNotAllowed):
        services.move(h.photographer, a, hub=h.hub, slot=last)
    with pytest.raises(InvalidInput):
        services.cancel(h.photographer, b, hub=h.hub, reason=" ")
    services.cancel(h.photographer, b, hub=h.hub, reason="Patient in hospital")
    assert OutboxMessage.objects.filter(event="appointment_cancelled").count() == 1
    # Cancelled: back on the booking list.
    assert [w.referral for w in reads.booking_list(h.admin, h.hub)] == [referral]


def test_an_sms_patient_gets_a_text_and_a_letter_patient_a_letter(world: World) -> None:
    h = make_hub(world)
    make_clinic(h)
    texted, posted = hub_referral(h), hub_referral(h)
    type(texted.patient).objects.filter(pk=texted.patient_id).update(
        contact_preference="sms", mobile="07700900123"
    )
    type(posted.patient).objects.filter(pk=posted.patient_id).update(contact_preference="letter")
    texted.refresh_from_db()
    posted.refresh_from_db()
    services.book(h.photographer, texted, hub=h.hub, site=h.site)
    services.book(h.photographer, posted, hub=h.hub, site=h.site)
    sms = OutboxMessage.objects.get(referral=texted)
    letter = OutboxMessage.objects.get(referral=posted)
    assert (sms.channel, sms.recipient, sms.subject) == ("sms", "07700900123", "")
    assert len(sms.body) < 320
    assert letter.channel == "letter"


def test_only_the_hubs_staff_book_and_only_referrals_sent_to_it(world: World) -> None:
    h = make_hub(world)
    make_clinic(h)
    referral = hub_referral(h)
    hub_b, pia, olga = other_hub(world)
    for outsider in (world.alice, world.derek, world.sam, pia, olga):
        with pytest.raises(NotPermitted):
            services.book(outsider, referral, hub=h.hub, site=h.site)
        with pytest.raises(NotPermitted):
            reads.booking_list(outsider, h.hub)
    # Another hub's staff cannot book this hub's referral into their own clinics either.
    with pytest.raises(NotPermitted):
        services.book(pia, referral, hub=hub_b, site=h.site)
    submitted = hub_referral(h, state=State.SUBMITTED)
    with pytest.raises(TransitionNotAllowed, match=r"no\s+longer needs"):
        services.book(h.photographer, submitted, hub=h.hub, site=h.site)
    assert Appointment.objects.count() == 0


def test_visit_outcomes(world: World) -> None:
    h = make_hub(world)
    session = clinic_today(h)
    referral = hub_referral(h)
    slot = Slot.objects.filter(session=session).first()
    assert slot is not None
    a = Appointment.objects.create(slot=slot, referral=referral, booked_by=h.photographer)
    with pytest.raises(InvalidInput, match="Say why"):
        services.record_visit(h.photographer, a, hub=h.hub, outcome="not_photographed")
    with pytest.raises(InvalidInput):
        services.record_visit(h.photographer, a, hub=h.hub, outcome="cancelled")
    done = services.record_visit(
        h.photographer, a, hub=h.hub, outcome="not_photographed", reason="Lesion under a cast"
    )
    assert (done.status, done.reason, done.outcome_by) == (
        "not_photographed",
        "Lesion under a cast",
        h.photographer,
    )
    # Could not be photographed: back on the booking list, with what happened.
    [waiting] = reads.booking_list(h.photographer, h.hub)
    assert waiting.previous == [done]
    # A future appointment cannot be marked yet.
    make_clinic(h)
    future = services.book(h.photographer, referral, hub=h.hub, site=h.site)
    with pytest.raises(TransitionNotAllowed, match="not happened"):
        services.record_visit(h.photographer, future, hub=h.hub, outcome="attended")
    assert future.slot.starts_at - done.slot.starts_at > timedelta(hours=1)
