"""start_referral (the new-referral page in one step) and the worklist breach filter."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from dermbridge.core.errors import InvalidReferral, NotPermitted
from dermbridge.patients.models import ConsentScope, Patient
from dermbridge.referrals import services
from dermbridge.referrals.models import Referral, ReferralKind, State
from dermbridge.testing import DEFAULT_HISTORY, DEFAULT_LESION, World, make_referral, nhs_number_for


def details(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nhs_number": nhs_number_for(777),
        "given_name": "Ann",
        "family_name": "Lee",
        "date_of_birth": date(1980, 1, 2),
        "sex": "female",
        "email": "ann@example.org",
        "contact_preference": "email",
    }
    data.update(overrides)
    return data


def start(world: World, **overrides: Any) -> Referral:
    kwargs: dict[str, Any] = {
        "user": world.alice,
        "referring_org": world.practice_a,
        "patient_details": details(),
        "consent_direct_care": True,
        "kind": ReferralKind.TRIAGE,
        "service": world.service,
        "clinical_question": "Suspicious?",
        "history": DEFAULT_HISTORY,
        "lesions": [DEFAULT_LESION],
    }
    kwargs.update(overrides)
    return services.start_referral(**kwargs)


def test_it_registers_the_patient_records_consent_and_starts_a_draft(world: World) -> None:
    referral = start(world)
    assert referral.state == State.DRAFT
    assert referral.patient.family_name == "Lee"
    assert referral.patient.consent_for(ConsentScope.DIRECT_CARE)
    assert referral.lesions.count() == 1


def test_it_reuses_a_registered_patient(world: World) -> None:
    first = start(world)
    second = start(world)
    assert first.patient_id == second.patient_id
    assert first.patient.consents.count() == 1  # consent already on record: not repeated


def test_it_saves_nothing_when_a_lesion_is_wrong(world: World) -> None:
    """GIVEN a valid patient but a lesion with an unknown body site WHEN the referral starts
    THEN no patient, consent or draft is saved (all or nothing)."""
    with pytest.raises(InvalidReferral) as exc:
        start(world, lesions=[{**DEFAULT_LESION, "body_site_code": "nope"}])
    assert "lesions[1].body_site_code" in exc.value.field_errors
    assert not Patient.objects.exists() and not Referral.objects.exists()


def test_it_refuses_a_practice_the_user_does_not_work_for(world: World) -> None:
    with pytest.raises(NotPermitted):
        start(world, referring_org=world.practice_b)
    assert not Patient.objects.exists()


def test_it_filters_breached_and_near_cases(world: World) -> None:
    now = timezone.now()
    breached = make_referral(world, state=State.AWAITING_REVIEW)
    near = make_referral(world, state=State.AWAITING_REVIEW)
    ok = make_referral(world, state=State.AWAITING_REVIEW)
    Referral.objects.filter(pk=breached.pk).update(due_at=now - timedelta(hours=1))
    Referral.objects.filter(pk=near.pk).update(
        warn_at=now - timedelta(hours=1), due_at=now + timedelta(hours=5)
    )
    Referral.objects.filter(pk=ok.pk).update(
        warn_at=now + timedelta(days=1), due_at=now + timedelta(days=2)
    )
    qs = Referral.objects.all()
    assert set(qs.breach("breached", now)) == {breached}
    assert set(qs.breach("near", now)) == {near}
    for referral in (breached, near, ok):
        referral.refresh_from_db()
    assert [breached.breach_status(now), near.breach_status(now), ok.breach_status(now)] == [
        "breached",
        "near",
        "ok",
    ]
    Referral.objects.filter(pk=breached.pk).update(responded_at=now)
    assert not qs.breach("breached", now).exists()  # answered: the clock has stopped
