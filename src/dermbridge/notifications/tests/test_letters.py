"""Letters to post: the service prints and posts what letter-only patients are owed."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from django.test import Client
from pypdf import PdfReader

from dermbridge.audit.models import AuditEvent
from dermbridge.notifications.models import OutboxMessage, OutboxStatus
from dermbridge.referrals import services as referrals
from dermbridge.referrals.models import Referral
from dermbridge.testing import World, make_patient, make_referral

pytestmark = pytest.mark.django_db


def _letter_referral(world: World, **kwargs: Any) -> Referral:
    patient = make_patient(world.practice_a, world.alice, contact_preference="letter")
    referral = make_referral(world, patient=patient, **kwargs)
    referrals.submit_referral(referral, user=world.alice)
    return referral


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_service_admin_sees_prints_and_marks_letters_posted(world: World) -> None:
    """GIVEN two letter-only patients referred to City Hospital
    WHEN its administrator opens Letters to post, downloads the PDF and marks one posted
    THEN the PDF holds one page per letter with the patient's name, NHS number and message as
    text; the posted one leaves the list; printing and posting are audited per referral."""
    first, second = _letter_referral(world), _letter_referral(world)
    client = _signed_in(world.sam)
    page = client.get("/letters/")
    assert page.status_code == 200
    body = page.content.decode()
    assert first.reference in body and second.reference in body
    assert "Referral received" in body and "Letters to post" in body

    pdf = client.get("/letters/letters.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf["Cache-Control"] == "private, no-store"
    pages = PdfReader(BytesIO(pdf.content)).pages
    assert len(pages) == 2
    text = pages[0].extract_text()
    patient = first.patient
    assert f"{patient.given_name} {patient.family_name}" in text
    assert patient.formatted_nhs_number in text
    assert first.reference in text and "City Hospital Dermatology" in text
    assert "Your skin referral has been sent" in text
    printed = AuditEvent.objects.filter(action="letter.printed")
    assert sorted(e.object_id for e in printed) == sorted([str(first.pk), str(second.pk)])

    letter = OutboxMessage.objects.get(referral=first)
    done = client.post("/letters/posted/", {"letter": [str(letter.pk)]}, follow=True)
    assert "1 letter marked as posted." in done.content.decode()
    letter.refresh_from_db()
    assert letter.status == OutboxStatus.SENT and letter.sent_at is not None
    assert AuditEvent.objects.get(action="letter.posted").object_id == str(first.pk)
    after = client.get("/letters/").content.decode()
    assert first.reference not in after and second.reference in after


def test_a_dermatologist_of_the_service_may_print_one_chosen_letter(world: World) -> None:
    first, second = _letter_referral(world), _letter_referral(world)
    chosen = OutboxMessage.objects.get(referral=second)
    response = _signed_in(world.derek).get("/letters/letters.pdf", {"letter": chosen.pk})
    assert response.status_code == 200
    pages = PdfReader(BytesIO(response.content)).pages
    assert len(pages) == 1 and second.reference in pages[0].extract_text()
    assert first.reference not in pages[0].extract_text()


def test_another_services_staff_can_neither_see_nor_post_the_letters(world: World) -> None:
    """GIVEN a letter owed by City Hospital WHEN County's dermatologist lists, downloads or
    marks it posted THEN they see nothing of it and it stays pending."""
    referral = _letter_referral(world)
    letter = OutboxMessage.objects.get(referral=referral)
    client = _signed_in(world.dora)
    assert referral.reference not in client.get("/letters/").content.decode()
    empty = client.get("/letters/letters.pdf", {"letter": letter.pk}, follow=True)
    assert empty["Content-Type"].startswith("text/html")
    assert "There are no letters to print." in empty.content.decode()
    done = client.post("/letters/posted/", {"letter": [str(letter.pk)]}, follow=True)
    assert "0 letters marked as posted." in done.content.decode()
    letter.refresh_from_db()
    assert letter.status == OutboxStatus.PENDING
    assert not AuditEvent.objects.filter(action__startswith="letter.").exists()


@pytest.mark.parametrize("persona", ["alice", "pat"])
def test_referrers_and_photographers_are_refused(world: World, persona: str) -> None:
    referral = _letter_referral(world)
    letter = OutboxMessage.objects.get(referral=referral)
    client = _signed_in(getattr(world, persona))
    assert client.get("/letters/").status_code == 403
    assert client.get("/letters/letters.pdf").status_code == 403
    assert client.post("/letters/posted/", {"letter": [str(letter.pk)]}).status_code == 403
    letter.refresh_from_db()
    assert letter.status == OutboxStatus.PENDING


def test_signed_out_visitors_are_sent_to_sign_in(world: World) -> None:
    response = Client().get("/letters/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_marking_nothing_says_what_to_do(world: World) -> None:
    _letter_referral(world)
    response = _signed_in(world.sam).post("/letters/posted/", {}, follow=True)
    assert "Choose the letters you have posted." in response.content.decode()
    assert OutboxMessage.objects.filter(status=OutboxStatus.PENDING).count() == 1


def test_a_patient_whose_email_is_missing_gets_a_letter_rather_than_nothing(world: World) -> None:
    """A record created outside the form (an import, the API) with the email preference but no
    address still tells the patient: by post."""
    patient = make_patient(world.practice_a, world.alice)
    type(patient).objects.filter(pk=patient.pk).update(email="")
    referral = make_referral(world, patient=type(patient).objects.get(pk=patient.pk))
    referrals.submit_referral(referral, user=world.alice)
    assert OutboxMessage.objects.get(referral=referral).channel == "letter"
