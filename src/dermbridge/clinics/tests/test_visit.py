"""The photographer's visit (issue #13 item 4): identity, consent per scope (declining care
photography returns the referral to the GP with a message), exactly the named lesions with an
overview, close-up and dermoscopic photo each, an extra lesion only with a reason (flagged to the
dermatologist), and "attended" only when all that is done (which starts the result clock)."""

from __future__ import annotations

from django.test import Client

from dermbridge.accounts.models import Role
from dermbridge.audit.models import AuditEvent
from dermbridge.clinics import reads, services
from dermbridge.clinics.models import Appointment, AppointmentStatus, ExtraLesion
from dermbridge.clinics.tests.support import (
    Hub,
    clinic_today,
    hub_referral,
    make_hub,
    ready_to_attend,
)
from dermbridge.clinics.visit import HUB_SET
from dermbridge.notifications.models import OutboxMessage
from dermbridge.patients.models import Consent, ConsentScope
from dermbridge.referrals.models import Lesion, Message, Referral, StateChange
from dermbridge.testing import World, attach_ready_image, make_user


def today_appointment(h: Hub) -> Appointment:
    slot = clinic_today(h).slots.first()
    assert slot is not None
    return Appointment.objects.create(slot=slot, referral=hub_referral(h), booked_by=h.admin)


def url(h: Hub, a: Appointment, step: str = "") -> str:
    return f"/hubs/{h.hub.pk}/appointments/{a.pk}/" + (f"{step}/" if step else "")


def test_the_visit_page_shows_the_patient_to_check_and_is_audited(
    client: Client, world: World
) -> None:
    h = make_hub(world)
    a = today_appointment(h)
    client.force_login(h.photographer)
    page = client.get(url(h, a)).content.decode()
    patient = a.referral.patient
    assert patient.family_name in page and patient.formatted_nhs_number in page
    assert "Date of birth matches" in page and "Lesion 1" in page
    event = AuditEvent.objects.get(action="clinics.visit.view")
    assert event.detail == {"referral": a.referral.reference}
    # Consent is asked only once the identity is checked.
    assert 'name="care"' not in page


def test_identity_needs_all_three_checks_and_keeps_what_was_ticked(
    client: Client, world: World
) -> None:
    h = make_hub(world)
    a = today_appointment(h)
    client.force_login(h.photographer)
    refused = client.post(url(h, a, "identity"), {"name": "1", "nhs_number": "1"})
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Check their date of birth with the patient" in page
    assert 'href="#identity-name"' in page
    assert 'id="identity-name" name="name" type="checkbox" value="1" checked' in page
    assert 'id="identity-date_of_birth" name="date_of_birth" type="checkbox" value="1">' in page
    a.refresh_from_db()
    assert a.identity_checked_at is None
    done = client.post(
        url(h, a, "identity"), {"name": "1", "date_of_birth": "1", "nhs_number": "1"}
    )
    assert done.status_code == 302 and done["Location"] == url(h, a)
    a.refresh_from_db()
    assert a.identity_checked_by == h.photographer and a.identity_checked_at is not None
    assert AuditEvent.objects.filter(action="clinics.visit.identity", object_id=str(a.pk)).exists()


def test_consent_is_recorded_per_scope_after_the_identity_check(
    client: Client, world: World
) -> None:
    h = make_hub(world)
    a = today_appointment(h)
    client.force_login(h.photographer)
    early = client.post(url(h, a, "consent"), {"care": "yes", "teaching": "no", "research": "no"})
    assert early.status_code == 409
    assert "Check the patient&#x27;s identity before recording consent" in early.content.decode()
    services.confirm_identity(
        h.photographer, a, hub=h.hub, name=True, date_of_birth=True, nhs_number=True
    )
    before = Consent.objects.count()
    missing = client.post(url(h, a, "consent"), {"care": "yes", "teaching": "no"})
    assert missing.status_code == 400
    page = missing.content.decode()
    assert "Record the patient&#x27;s answer for research" in page
    assert 'id="consent-care-yes" name="care" value="yes" checked' in page
    assert Consent.objects.count() == before
    client.post(url(h, a, "consent"), {"care": "yes", "teaching": "no", "research": "yes"})
    a.refresh_from_db()
    assert (a.consent_care, a.consent_teaching, a.consent_research) == (True, False, True)
    patient = a.referral.patient
    assert patient.consent_for(ConsentScope.DIRECT_CARE)
    assert not patient.consent_for(ConsentScope.TEACHING)
    assert patient.consent_for(ConsentScope.RESEARCH)
    mine = Consent.objects.filter(patient=patient, recorded_by=h.photographer)
    assert sorted(mine.values_list("scope", "granted")) == [
        ("direct_care", True),
        ("research", True),
        ("teaching", False),
    ]
    event = AuditEvent.objects.get(action="clinics.visit.consent")
    assert event.detail["teaching"] is False and event.detail["care"] is True
    assert a.status == AppointmentStatus.BOOKED


def test_declining_care_photography_returns_the_referral_to_the_gp_with_a_message(
    client: Client, world: World
) -> None:
    h = make_hub(world)
    a = today_appointment(h)
    referral = a.referral
    services.confirm_identity(
        h.photographer, a, hub=h.hub, name=True, date_of_birth=True, nhs_number=True
    )
    client.force_login(h.photographer)
    response = client.post(
        url(h, a, "consent"), {"care": "no", "teaching": "no", "research": "no"}, follow=True
    )
    assert "declined photography for their care" in response.content.decode()
    a.refresh_from_db()
    assert a.status == AppointmentStatus.NOT_PHOTOGRAPHED and a.consent_care is False
    referral.refresh_from_db()
    assert referral.imaging_hub is None  # back with the GP: off the hub's booking list
    assert referral.state == "draft"
    message = Message.objects.get(referral=referral)
    assert message.organisation == h.hub and "declined photography" in message.body
    assert StateChange.objects.filter(referral=referral, action="returned_by_hub").exists()
    to_gp = OutboxMessage.objects.filter(event="appointment_declined_care", channel="email")
    assert {m.recipient for m in to_gp} >= {referral.referrer.email.lower()}
    gp = {referral.referrer.email.lower(), referral.referring_org.email.lower()} - {""}
    told = OutboxMessage.objects.filter(event="appointment_declined_care")
    patient_side = [m for m in told if m.recipient not in gp]
    assert len(patient_side) == 1 and "chose not to have photographs" in patient_side[0].body
    assert AuditEvent.objects.filter(action="referral.returned_by_hub").exists()
    assert referral.pk not in {w.referral.pk for w in reads.booking_list(h.admin, h.hub)}
    # The GP sees the message on the referral.
    client.force_login(referral.referrer)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Returned to the GP by" in page and "declined photography" in page


def test_attended_needs_identity_consent_and_every_lesion_photographed(world: World) -> None:
    h = make_hub(world)
    a = today_appointment(h)
    try:
        services.record_visit(h.photographer, a, hub=h.hub, outcome="attended")
    except Exception as error:
        text = str(getattr(error, "message", error))
    else:  # pragma: no cover
        raise AssertionError("attended without photos was accepted")
    assert "Check the patient's name" in text and "Lesion 1: take the overview" in text
    a.refresh_from_db()
    assert a.status == AppointmentStatus.BOOKED
    ready_to_attend(h, a)
    done = services.record_visit(h.photographer, a, hub=h.hub, outcome="attended")
    assert done.status == AppointmentStatus.ATTENDED
    assert done.result_due_at is not None and done.result_warn_at is not None
    assert done.result_warn_at < done.result_due_at


def test_an_extra_lesion_needs_a_reason_and_is_flagged_to_the_dermatologist(
    client: Client, world: World
) -> None:
    h = make_hub(world)
    a = ready_to_attend(h, today_appointment(h))
    client.force_login(h.photographer)
    lesions = Lesion.objects.count()
    refused = client.post(
        url(h, a, "lesions"),
        {"body_site_code": "77568009", "description": "New dark mole", "reason": " "},
    )
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Say why you are photographing a lesion the referral did not name" in page
    assert "New dark mole" in page  # what was typed is kept
    assert Lesion.objects.count() == lesions
    client.post(
        url(h, a, "lesions"),
        {
            "body_site_code": "77568009",
            "description": "New dark mole",
            "reason": "Patient pointed out a changing mole on the back",
        },
    )
    extra = ExtraLesion.objects.get()
    assert extra.lesion.referral == a.referral and extra.lesion.number == 2
    assert extra.added_by == h.photographer
    assert AuditEvent.objects.filter(action="lesion.create_at_hub").exists()
    visit = client.get(url(h, a)).content.decode()
    assert "Not named in the referral" in visit and "changing mole" in visit
    # The new lesion needs its own set before "attended".
    problems = services.attended_problems(a)
    assert problems == ["Lesion 2: take the overview (locating), close-up, dermoscopic photo."]
    for image_type in HUB_SET:
        attach_ready_image(extra.lesion, image_type, h.photographer)
    assert services.attended_problems(a) == []
    # The dermatologist sees the flag once the GP sends the referral.
    referral = Referral.objects.get(pk=a.referral.pk)
    from dermbridge.referrals import services as referral_services

    services.record_visit(h.photographer, a, hub=h.hub, outcome="attended")
    referral_services.submit_referral(referral, user=referral.referrer)
    referral_services.queue_for_review(referral.pk)
    client.force_login(world.derek)
    review = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Lesions the referral did not name" in review
    assert "changing mole on the back" in review
    assert "Result to the patient by" in review


def test_only_the_hubs_photographers_record_the_visit(client: Client, world: World) -> None:
    h = make_hub(world)
    a = today_appointment(h)
    client.force_login(h.admin)  # the hub's administrator: books, but does not photograph
    page = client.get(url(h, a)).content.decode()
    assert "the photographer checks the patient's identity" in page
    assert 'name="nhs_number"' not in page and "Record the visit" in page
    body = {"name": "1", "date_of_birth": "1", "nhs_number": "1"}
    assert client.post(url(h, a, "identity"), body).status_code == 403
    other = make_user("nina", world.practice_a, Role.PHOTOGRAPHER)
    client.force_login(other)
    assert client.post(url(h, a, "identity"), body).status_code == 404
    a.refresh_from_db()
    assert a.identity_checked_at is None


def test_the_photo_page_leads_back_to_the_visit_only_for_the_hubs_own_appointment(
    client: Client, world: World
) -> None:
    """From the visit page to a lesion's photo page and back: the way back is offered only for
    an appointment of the user's own hub for that referral; keeping and removing a photo keep it."""
    h = make_hub(world)
    a = today_appointment(h)
    services.confirm_identity(
        h.photographer, a, hub=h.hub, name=True, date_of_birth=True, nhs_number=True
    )
    services.record_consent(h.photographer, a, hub=h.hub, care="yes", teaching="no", research="no")
    lesion = a.referral.lesions.get(number=1)
    client.force_login(h.photographer)
    visit_page = client.get(url(h, a)).content.decode()
    photos_url = f"/referrals/{a.referral.pk}/lesions/{lesion.pk}/photos/"
    assert f'href="{photos_url}?visit={a.pk}"' in visit_page
    page = client.get(f"{photos_url}?visit={a.pk}").content.decode()
    assert page.count(f'href="{url(h, a)}"') == 2 and "Back to the visit" in page
    # Another referral's appointment, a made-up number, or no number: the referral's way back.
    free = a.slot.session.slots.exclude(pk=a.slot_id).first()
    assert free is not None
    other = Appointment.objects.create(
        slot=free,
        referral=hub_referral(h),
        booked_by=h.admin,
    )
    for query in (f"?visit={other.pk}", "?visit=999999", "?visit=abc", "?visit=²", ""):
        page = client.get(photos_url + query).content.decode()
        assert "Back to the visit" not in page and "Back to the referral" in page, query
    # Someone who is not the hub's staff never gets the hub's link.
    client.force_login(world.alice)  # the referring GP
    response = client.get(f"{photos_url}?visit={a.pk}")
    assert b"Back to the visit" not in response.content
