"""Patient identity and consent."""

from __future__ import annotations

from datetime import date

import pytest

from dermbridge.core.errors import InvalidPatient, InvalidReferral, NotPermitted
from dermbridge.patients.models import ConsentScope, Patient
from dermbridge.patients.services import patients_visible_to, record_consent, register_patient
from dermbridge.testing import make_patient, nhs_number_for

DEMOGRAPHICS = {
    "given_name": "Ann",
    "family_name": "Smith",
    "date_of_birth": date(1970, 1, 2),
    "email": "ann@example.org",
}


def test_it_explains_a_failed_check_digit(world):
    """GIVEN an NHS number whose check digit is wrong
    WHEN the GP registers the patient
    THEN the message names the number as a clinician would read it, and nothing is saved."""
    with pytest.raises(InvalidPatient, match="NHS number 943 476 5918 fails the check digit"):
        register_patient(
            user=world.alice, practice=world.practice_a, nhs_number="943 476 5918", **DEMOGRAPHICS
        )
    with pytest.raises(InvalidPatient, match="must be 10 digits"):
        register_patient(
            user=world.alice, practice=world.practice_a, nhs_number="12345", **DEMOGRAPHICS
        )
    assert not Patient.objects.exists()


def test_it_reuses_a_known_patient_and_refuses_a_mismatched_birth_date(world):
    nhs = nhs_number_for(42)
    first = register_patient(
        user=world.alice, practice=world.practice_a, nhs_number=nhs, **DEMOGRAPHICS
    )
    again = register_patient(
        user=world.alice, practice=world.practice_a, nhs_number=nhs, **DEMOGRAPHICS
    )
    assert first.pk == again.pk
    with pytest.raises(InvalidPatient, match="different date of birth"):
        register_patient(
            user=world.alice,
            practice=world.practice_a,
            nhs_number=nhs,
            **{**DEMOGRAPHICS, "date_of_birth": date(1980, 1, 1)},
        )


def test_it_honours_consent_withdrawal(world):
    """GIVEN teaching consent given
    WHEN it is withdrawn
    THEN the current answer for teaching is no, and the history of both decisions is kept."""
    patient = make_patient(world.practice_a, world.alice)
    record_consent(user=world.alice, patient=patient, scope=ConsentScope.TEACHING, granted=True)
    assert patient.consent_for(ConsentScope.TEACHING)
    record_consent(user=world.alice, patient=patient, scope=ConsentScope.TEACHING, granted=False)
    assert not patient.consent_for(ConsentScope.TEACHING)
    assert patient.consent_for(ConsentScope.DIRECT_CARE)
    assert patient.consents.filter(scope=ConsentScope.TEACHING).count() == 2


def test_it_keeps_patients_within_their_practice(world):
    patient = make_patient(world.practice_a, world.alice)
    assert patient in patients_visible_to(world.alice)
    assert patient not in patients_visible_to(world.bob)
    assert patient not in patients_visible_to(world.derek)  # no referral sent yet
    with pytest.raises(NotPermitted):
        record_consent(user=world.bob, patient=patient, scope=ConsentScope.RESEARCH, granted=True)


def test_a_withdrawn_consent_to_share_for_care_stops_the_referral_being_sent(world):
    """GIVEN a complete draft WHEN the patient withdraws consent to share for their care
    THEN it cannot be sent, the GP is told why, and nothing changes; given again, it can."""
    from dermbridge.referrals.models import State
    from dermbridge.referrals.services import submit_referral
    from dermbridge.testing import make_referral

    referral = make_referral(world)
    record_consent(
        user=world.alice, patient=referral.patient, scope=ConsentScope.DIRECT_CARE, granted=False
    )
    with pytest.raises(InvalidReferral, match="Record the patient's consent to share images"):
        submit_referral(referral, user=world.alice)
    referral.refresh_from_db()
    assert referral.state == State.DRAFT and referral.submitted_at is None
    record_consent(
        user=world.alice, patient=referral.patient, scope=ConsentScope.DIRECT_CARE, granted=True
    )
    assert submit_referral(referral, user=world.alice).state != State.DRAFT
