"""The GP's short new-referral page (issue #9): demographics from the NHS number, only what the
pathway needs, defaults from what was typed, errors named once and at once, Check your answers."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from dermbridge.patients import demographics
from dermbridge.patients.models import Patient
from dermbridge.referrals import services
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.referrals.terminology import BODY_SITES
from dermbridge.testing import World, make_referral, nhs_number_for

pytestmark = pytest.mark.django_db


def _registered(world: World, seed: int = 6161) -> Patient:
    return Patient.objects.create(
        nhs_number=nhs_number_for(seed),
        given_name="Maya",
        family_name="Okonkwo",
        date_of_birth=date(1971, 3, 2),
        mobile="07700 900123",
        contact_preference="sms",
        registered_practice=world.practice_a,
    )


def _short_form(world: World, nhs: str, **extra: str) -> dict[str, str]:
    return {
        "patient-nhs_number": nhs,
        "patient-consent_direct_care": "on",
        "kind": "ag",
        "service": str(world.service.pk),
        "clinical_question": "What is it?",
        "lesion-body_site_code": "699893008",
        **extra,
    }


def test_the_local_directory_answers_for_the_practice_only(world: World) -> None:
    patient = _registered(world)
    found = demographics.find(world.alice, world.practice_a, patient.nhs_number)
    assert found is not None and found.name == "Maya Okonkwo"
    assert found.contact_text == "Text message to 07700 900123"
    assert demographics.find(world.bob, world.practice_b, patient.nhs_number) is None
    assert demographics.default_contact("", "07700 900123") == "sms"
    assert demographics.default_contact("a@b.org", "07700 900123") == "email"
    assert demographics.default_contact("", "") == "letter"


def test_find_shows_the_patient_and_saving_needs_no_retyping(client: Client, world: World) -> None:
    patient = _registered(world)
    client.force_login(world.alice)
    page = client.post(
        "/referrals/new/", {"patient-nhs_number": patient.nhs_number, "op": "find"}
    ).content.decode()
    assert 'id="patient-found"' in page and "Maya Okonkwo" in page
    assert "There is a problem" not in page  # nothing else is checked at the Find step
    response = client.post("/referrals/new/", _short_form(world, patient.nhs_number))
    assert response.status_code == 302
    referral = Referral.objects.get(patient=patient)
    assert referral.lesions.get().body_site_code == "699893008"


def test_an_invalid_nhs_number_is_reported_on_the_first_save_once_and_linked(
    client: Client, world: World
) -> None:
    client.force_login(world.alice)
    page = client.post("/referrals/new/", _short_form(world, "9434765918")).content.decode()
    assert page.count("fails the check digit") == 2  # the summary and the field, nothing more
    assert 'href="#id_patient-nhs_number"' in page
    assert not Referral.objects.exists()


def test_a_new_patient_is_asked_by_name_with_the_nhs_date_pattern(
    client: Client, world: World
) -> None:
    client.force_login(world.alice)
    nhs = nhs_number_for(7171)
    page = client.post("/referrals/new/", _short_form(world, nhs)).content.decode()
    for message in (
        "Enter the patient&#x27;s first name",
        "Enter the patient&#x27;s last name",
        "Enter the patient&#x27;s date of birth",
    ):
        assert message in page
    assert "This field is required" not in page
    assert 'href="#id_patient-date_of_birth-day"' in page
    assert 'name="patient-date_of_birth-month"' in page
    form = _short_form(
        world,
        nhs,
        **{
            "patient-given_name": "Ann",
            "patient-family_name": "Lee",
            "patient-date_of_birth-day": "31",
            "patient-date_of_birth-month": "2",
            "patient-date_of_birth-year": "1980",
            "patient-mobile": "07700 900456",
        },
    )
    page = client.post("/referrals/new/", form).content.decode()
    assert (
        "Date of birth: date of birth must be a real date" in page
        or "Date of birth must be a real date" in page
    )
    form["patient-date_of_birth-day"] = "28"
    assert client.post("/referrals/new/", form).status_code == 302
    created = Patient.objects.get(nhs_number=nhs)
    assert created.date_of_birth == date(1980, 2, 28)
    assert created.contact_preference == "sms"  # a mobile and no email: text messages


def test_not_known_is_refused_only_where_clinically_needed(world: World) -> None:
    usc = make_referral(world, kind=ReferralKind.URGENT_CANCER)
    type(usc.history).objects.filter(pk=usc.history.pk).update(
        changed_size="unknown", changed_shape="no", changed_colour="no", onset=""
    )
    usc.refresh_from_db()
    problems = services.submission_problems(usc)
    assert any("'Changed in size?'" in p and "urgent" in p for p in problems)
    advice = make_referral(world, kind=ReferralKind.ADVICE)
    type(advice.history).objects.filter(pk=advice.history.pk).update(
        changed_size="unknown", changed_shape="unknown", changed_colour="unknown", onset=""
    )
    advice.refresh_from_db()
    assert not any(
        "Changed in" in p or "history" in p for p in services.submission_problems(advice)
    )


def test_check_your_answers_lists_what_is_missing_with_links_and_sends(
    client: Client, world: World
) -> None:
    referral = make_referral(world, kind=ReferralKind.ADVICE)
    client.force_login(world.alice)
    page = client.get(f"/referrals/{referral.pk}/check/").content.decode()
    assert "Check your answers before sending" in page
    response = client.post(f"/referrals/{referral.pk}/check/")
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state != State.DRAFT


def test_the_plain_select_lists_every_body_site(client: Client, world: World) -> None:
    client.force_login(world.alice)
    page = client.get("/referrals/new/").content.decode()
    assert 'data-bodymap="true"' in page
    for code in BODY_SITES:
        assert f'value="{code}"' in page
