"""Session limits (ASVS 3.3) and logs free of patient identifiers."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.urls import reverse

from dermbridge.accounts.middleware import SESSION_STARTED_KEY
from dermbridge.referrals.models import State
from dermbridge.testing import make_referral


def test_it_expires_an_idle_session_within_30_minutes(world, client):
    """GIVEN a signed-in dermatologist WHEN they keep working THEN the session's expiry is
    renewed once its last touch is a minute old (the 30 idle minutes restart with activity),
    and never set beyond 30 minutes from now; a request within the minute writes nothing."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from dermbridge.accounts.middleware import SESSION_TOUCHED_KEY

    assert settings.SESSION_COOKIE_AGE <= 30 * 60
    assert settings.SESSION_TOUCH_SECONDS <= 60
    client.force_login(world.derek)
    assert client.get(reverse("worklist")).status_code == 200
    key = client.session.session_key

    def expiry():  # type: ignore[no-untyped-def]
        return Session.objects.get(session_key=key).expire_date

    first = expiry()
    assert first <= timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert client.get(reverse("worklist")).status_code == 200
    assert expiry() == first  # touched a moment ago: not written again
    session = client.session
    session[SESSION_TOUCHED_KEY] = time.time() - settings.SESSION_TOUCH_SECONDS - 1
    session.save()
    Session.objects.filter(session_key=key).update(expire_date=first - timedelta(minutes=5))
    assert client.get(reverse("worklist")).status_code == 200
    renewed = expiry()
    assert renewed > first - timedelta(minutes=5)
    assert renewed <= timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)


def test_it_ends_a_session_12_hours_after_sign_in_whatever_the_activity(world, client):
    """GIVEN a dermatologist signed in 12 hours and a minute ago, active all along
    WHEN they open the worklist
    THEN they are signed out and sent to the login page."""
    client.force_login(world.derek)
    assert client.get(reverse("worklist")).status_code == 200
    session = client.session
    session[SESSION_STARTED_KEY] = time.time() - 12 * 3600 - 60
    session.save()
    response = client.get(reverse("worklist"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert "_auth_user_id" not in client.session


def test_it_keeps_patient_identifiers_out_of_application_logs(world, client, caplog):
    """GIVEN a full referral journey with every logger at DEBUG
    WHEN the GP and the dermatologist work through pages
    THEN no log line carries the patient's NHS number, name or email."""
    caplog.set_level(logging.DEBUG)
    referral = make_referral(world, state=State.IN_REVIEW)
    patient = referral.patient
    client.force_login(world.derek)
    client.get(reverse("worklist"))
    client.get(reverse("referral-detail", args=[referral.pk]))
    client.force_login(world.alice)
    client.get(reverse("referral-detail", args=[referral.pk]))
    text = "\n".join(r.getMessage() for r in caplog.records)
    for identifier in (
        patient.nhs_number,
        patient.formatted_nhs_number,
        patient.family_name,
        patient.email,
    ):
        assert identifier not in text
