"""Patients and clinicians are told about each step, over a real SMTP server and the SMS file."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.notifications import services
from dermbridge.notifications.models import OutboxMessage, OutboxStatus
from dermbridge.notifications.services import MAX_ATTEMPTS, deliver_outbox_message
from dermbridge.notifications.tasks import retry_pending_messages
from dermbridge.notifications.tests.conftest import MailSink
from dermbridge.referrals import services as referrals
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.referrals.tasks import warn_near_breaches
from dermbridge.testing import World, make_patient, make_referral

pytestmark = pytest.mark.django_db

OUTCOME: dict[str, Any] = {
    "diagnosis_code": "372244006",
    "management_plan": "Excision biopsy with 2 mm margins.",
    "advice_to_referrer": "Features of melanoma in situ; biopsy booked.",
    "patient_explanation": "We would like to remove this mark and check it under a microscope.",
    "pathway_decision": "biopsy",
}


def clinical_phrases(referral: Referral) -> list[str]:
    """Words that must never reach a patient's inbox or phone."""
    patient = referral.patient
    return [
        "melanoma",
        "Malignant",
        OUTCOME["management_plan"],
        OUTCOME["advice_to_referrer"],
        OUTCOME["patient_explanation"],
        referral.clinical_question,
        "Irregular pigmented macule",
        patient.nhs_number,
        patient.formatted_nhs_number,
        patient.family_name,
        "derek",
    ]


def assert_nothing_clinical(text: str, referral: Referral) -> None:
    for phrase in clinical_phrases(referral):
        assert phrase.lower() not in text.lower(), phrase


def test_it_emails_the_patient_a_status_link_when_a_referral_is_submitted(
    world: World, smtp_server: MailSink, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a complete draft for a patient who prefers email
    WHEN the referrer submits it
    THEN the patient receives one email over SMTP with the pathway and a status link, and no
    clinical detail; nobody else is emailed."""
    referral = make_referral(world)
    with django_capture_on_commit_callbacks(execute=True):
        referrals.submit_referral(referral, user=world.alice)

    patient_mail = smtp_server.to(referral.patient.email)
    assert smtp_server.recipients == [referral.patient.email]
    assert len(patient_mail) == 1
    mail = patient_mail[0]
    assert mail.subject == "Your skin referral has been sent"
    assert "referred to the skin (dermatology) service" in mail.text
    assert "http://127.0.0.1:8000/status/" in mail.text
    assert referral.reference in mail.text
    assert_nothing_clinical(mail.text, referral)
    row = OutboxMessage.objects.get(referral=referral)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 1, "")


def test_it_tells_patient_and_referrer_when_the_outcome_is_recorded(
    world: World, smtp_server: MailSink, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a referral a dermatologist is reviewing
    WHEN they record a biopsy outcome with a melanoma diagnosis
    THEN the patient is told the next step (a biopsy appointment) and given a status link
    without the diagnosis, and the referrer and practice are told to sign in."""
    referral = make_referral(world, state=State.IN_REVIEW)
    with django_capture_on_commit_callbacks(execute=True):
        referrals.record_outcome(referral, user=world.derek, action="triage", **OUTCOME)

    patient = referral.patient
    assert smtp_server.recipients == sorted(
        [patient.email, world.alice.email, world.practice_a.email]
    )
    (to_patient,) = smtp_server.to(patient.email)
    assert to_patient.subject == "A skin specialist has replied about your referral"
    assert "biopsy" in to_patient.text
    assert "/status/" in to_patient.text
    assert_nothing_clinical(to_patient.text, referral)
    (to_referrer,) = smtp_server.to(world.alice.email)
    assert referral.reference in to_referrer.subject
    # The link to the referral's own page (behind sign-in), not only its reference.
    assert f"{settings.SITE_URL}/referrals/{referral.pk}/" in to_referrer.text
    assert "sign in" in to_referrer.text
    assert_nothing_clinical(to_referrer.text, referral)


def test_it_asks_the_referring_practice_when_more_information_is_needed(
    world: World, smtp_server: MailSink, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a case in review WHEN the dermatologist asks for more information
    THEN the referrer and their practice are emailed; the patient and other practices are not."""
    referral = make_referral(world, state=State.IN_REVIEW)
    with django_capture_on_commit_callbacks(execute=True):
        referrals.request_more_information(referral, user=world.derek, question="Is it raised?")

    assert smtp_server.recipients == sorted([world.alice.email, world.practice_a.email])
    assert "needs more information" in smtp_server.received[0].text
    assert "Is it raised?" not in smtp_server.received[0].text


def test_it_warns_the_service_once_before_a_target_is_breached(
    world: World, smtp_server: MailSink, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN an open case past its warning time WHEN the near-breach scan runs twice
    THEN the service mailbox, its dermatologists and its administrator are warned once; the
    referrer and the other service are not."""
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    on_time = make_referral(world, state=State.AWAITING_REVIEW)
    Referral.objects.filter(pk=referral.pk).update(warn_at=timezone.now() - timedelta(hours=1))
    Referral.objects.filter(pk=on_time.pk).update(warn_at=timezone.now() + timedelta(days=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert warn_near_breaches.call() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert warn_near_breaches.call() == 0

    expected = sorted([world.service.email, world.derek.email, world.sam.email])
    assert smtp_server.recipients == expected
    assert all(referral.reference in m.subject for m in smtp_server.received)
    assert Referral.objects.get(pk=referral.pk).breach_warned_at is not None
    assert Referral.objects.get(pk=on_time.pk).breach_warned_at is None


def test_it_texts_a_patient_who_prefers_sms(
    world: World, smtp_server: MailSink, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a patient who prefers text messages WHEN their referral is submitted
    THEN one text with the status link is written to the SMS channel and no email is sent."""
    patient = make_patient(
        world.practice_a, world.alice, contact_preference="sms", mobile="07700 900123"
    )
    referral = make_referral(world, patient=patient)
    sms_file = tmp_path / "sms.jsonl"
    with (
        override_settings(SMS_FILE_PATH=sms_file),
        django_capture_on_commit_callbacks(execute=True),
    ):
        referrals.submit_referral(referral, user=world.alice)

    lines = sms_file.read_text().splitlines()
    assert len(lines) == 1
    sms = json.loads(lines[0])
    assert sms["to"] == "07700 900123"
    assert referral.reference in sms["body"] and "/status/" in sms["body"]
    assert_nothing_clinical(sms["body"], referral)
    assert smtp_server.received == []


def test_it_queues_a_letter_for_a_patient_who_prefers_post(
    world: World, smtp_server: MailSink, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a letter-only patient WHEN their referral is submitted THEN no email or text goes
    out; a letter waits, unsent by any worker or retry, for the service to print and post."""
    patient = make_patient(world.practice_a, world.alice, contact_preference="letter")
    referral = make_referral(world, patient=patient)
    with django_capture_on_commit_callbacks(execute=True):
        referrals.submit_referral(referral, user=world.alice)
    assert smtp_server.received == []
    letter = OutboxMessage.objects.get(referral=referral)
    assert (letter.channel, letter.status, letter.event) == ("letter", "pending", "submitted")
    assert letter.body.startswith(f"Dear {patient.given_name} {patient.family_name},")
    assert "/status/" in letter.body
    assert deliver_outbox_message(letter.pk) == "skipped"
    letter.created_at = timezone.now() - timedelta(days=1)
    letter.save()
    assert letter.pk not in services.messages_due_for_retry()
    letter.refresh_from_db()
    assert (letter.status, letter.attempts) == ("pending", 0)


def test_it_keeps_a_message_pending_when_the_smtp_server_is_down(
    world: World, smtp_down: int, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN the SMTP relay is down WHEN a referral is submitted THEN the submission succeeds,
    the message stays pending with one attempt, the error and a retry time."""
    referral = make_referral(world)
    with django_capture_on_commit_callbacks(execute=True):
        referrals.submit_referral(referral, user=world.alice)

    row = OutboxMessage.objects.get(referral=referral)
    assert row.status == OutboxStatus.PENDING
    assert row.attempts == 1
    assert "SMTP delivery failed" in row.last_error
    assert row.next_attempt_at is not None and row.next_attempt_at > timezone.now()
    assert Referral.objects.get(pk=referral.pk).state == State.AWAITING_REVIEW


def test_it_retries_after_the_backoff_once_the_server_is_back(
    world: World, smtp_server: MailSink
) -> None:
    """GIVEN a message that failed once WHEN the retry scan runs before and after its backoff
    THEN it is sent only after the backoff, exactly once."""
    referral = make_referral(world, state=State.SUBMITTED)
    row = OutboxMessage.objects.get(referral=referral)
    OutboxMessage.objects.filter(pk=row.pk).update(
        attempts=1,
        last_error="SMTP delivery failed: ConnectionRefusedError",
        next_attempt_at=timezone.now() + timedelta(minutes=1),
    )
    assert retry_pending_messages.call() == 0
    assert smtp_server.received == []

    OutboxMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert retry_pending_messages.call() == 1
    assert retry_pending_messages.call() == 0
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 2, "")
    assert smtp_server.recipients == [referral.patient.email]


def test_it_marks_a_message_failed_and_visible_after_max_attempts(
    world: World, smtp_down: int
) -> None:
    """GIVEN the relay stays down WHEN every retry falls due and fails
    THEN after MAX_ATTEMPTS the message is failed, kept, and recorded in the audit trail."""
    referral = make_referral(world, state=State.SUBMITTED)
    row = OutboxMessage.objects.get(referral=referral)
    results = []
    for _ in range(MAX_ATTEMPTS + 1):
        OutboxMessage.objects.filter(pk=row.pk, status=OutboxStatus.PENDING).update(
            next_attempt_at=timezone.now()
        )
        results.append(deliver_outbox_message(row.pk))
    assert results == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed", "skipped"]
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    event = AuditEvent.objects.get(action="notification.failed")
    assert event.object_id == str(referral.pk) and event.detail["message"] == row.pk


def test_it_fails_at_once_when_the_server_refuses_the_address(
    world: World, smtp_server: MailSink
) -> None:
    """GIVEN the relay answers 550 for the patient's address WHEN the message is sent
    THEN it is failed after one attempt (retrying cannot help)."""
    referral = make_referral(world, state=State.SUBMITTED)
    smtp_server.refuse.add(referral.patient.email)
    row = OutboxMessage.objects.get(referral=referral)
    assert deliver_outbox_message(row.pk) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 1)
    assert "550" in row.last_error


def test_it_never_sends_a_message_twice(world: World, smtp_server: MailSink) -> None:
    """GIVEN a pending message WHEN its send task runs twice THEN one email goes out."""
    referral = make_referral(world, state=State.SUBMITTED)
    row = OutboxMessage.objects.get(referral=referral)
    assert deliver_outbox_message(row.pk) == "sent"
    assert deliver_outbox_message(row.pk) == "skipped"
    assert len(smtp_server.received) == 1


def test_it_leaves_a_message_alone_while_another_worker_is_sending_it(
    world: World, smtp_server: MailSink
) -> None:
    """GIVEN a message another worker has just claimed WHEN a second send runs THEN it skips."""
    referral = make_referral(world, state=State.SUBMITTED)
    row = OutboxMessage.objects.get(referral=referral)
    OutboxMessage.objects.filter(pk=row.pk).update(
        attempts=1, next_attempt_at=timezone.now() + timedelta(seconds=services.CLAIM_SECONDS)
    )
    assert deliver_outbox_message(row.pk) == "skipped"
    assert smtp_server.received == []


def test_it_queues_one_message_when_the_same_event_is_reported_twice(world: World) -> None:
    """GIVEN a submitted referral WHEN the submission event is reported again
    THEN no second message is queued for the same recipient."""
    referral = make_referral(world, state=State.SUBMITTED)
    assert OutboxMessage.objects.filter(referral=referral).count() == 1
    services.notify_referral_event(referral, "submitted")
    assert OutboxMessage.objects.filter(referral=referral).count() == 1


def test_it_warns_again_when_a_converted_request_has_a_new_target(
    world: World, smtp_server: MailSink, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN an advice request the service was warned about WHEN it is converted to an urgent
    referral (a new 28-day target) and that target in turn nears THEN the service is warned again."""
    referral = make_referral(world, state=State.IN_REVIEW, kind=ReferralKind.ADVICE)
    Referral.objects.filter(pk=referral.pk).update(warn_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert warn_near_breaches.call() == 1
        referrals.convert_advice_request(
            referral, user=world.derek, to_kind=ReferralKind.URGENT_CANCER
        )
    converted = Referral.objects.get(pk=referral.pk)
    assert converted.breach_warned_at is None
    Referral.objects.filter(pk=referral.pk).update(warn_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert warn_near_breaches.call() == 1
    warnings = [m for m in smtp_server.to(world.service.email) if "close to" in m.text]
    assert len(warnings) == 2


def test_it_tells_the_other_side_about_a_new_message(
    world: World, smtp_server: MailSink, django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN a referral in review WHEN the dermatologist writes to the practice, and two
    messages later the referrer answers THEN each message is announced, once, to the other side
    only, without its words."""
    referral = make_referral(world, state=State.IN_REVIEW)
    with django_capture_on_commit_callbacks(execute=True):
        referrals.post_message(referral, user=world.derek, body="Any family history?")
    assert smtp_server.recipients == sorted([world.alice.email, world.practice_a.email])

    smtp_server.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        referrals.post_message(referral, user=world.alice, body="None known.")
        referrals.post_message(referral, user=world.alice, body="Mother had a BCC.")
    service_side = [world.service.email, world.derek.email, world.sam.email]
    assert smtp_server.recipients == sorted(service_side * 2)
    for mail in smtp_server.received:
        assert "new message" in mail.text
        assert "BCC" not in mail.text and "None known" not in mail.text


def test_it_sends_a_message_whose_first_send_was_lost(world: World, smtp_server: MailSink) -> None:
    """GIVEN a message queued minutes ago whose send task never ran (a worker lost it)
    WHEN the retry scan runs THEN it is sent; a message queued a moment ago is left to its own
    send task."""
    older = make_referral(world, state=State.SUBMITTED)
    newer = make_referral(world, state=State.SUBMITTED)
    OutboxMessage.objects.filter(referral=older).update(
        created_at=timezone.now() - timedelta(seconds=services.FIRST_SEND_GRACE_SECONDS + 60)
    )
    assert retry_pending_messages.call() == 1
    assert smtp_server.recipients == [older.patient.email]
    assert OutboxMessage.objects.get(referral=newer).status == OutboxStatus.PENDING
