"""`dermbridge demo`, which `make run` calls: the demo data load, once, whatever is run twice."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from dermbridge.demo import DEMO_LOGINS, DEMO_PASSWORD, HUB_REFERRALS, SCENARIOS
from dermbridge.imaging.models import ImageStatus, LesionImage
from dermbridge.lesions.demo import VISITS as LESION_VISITS
from dermbridge.notifications.models import Channel, OutboxMessage
from dermbridge.referrals.models import Referral, ReferralKind, State

pytestmark = pytest.mark.django_db(transaction=False)


def test_a_small_demo_loads_once_with_every_login_and_processed_photos(
    settings, tmp_path, monkeypatch
) -> None:
    """The fast sibling of the test below (make test): the same `dermbridge demo` code path with
    three of its scenarios, so that its photos go through the real pipeline in a few seconds.
    GIVEN an empty database WHEN `dermbridge demo` runs twice THEN each scenario is one referral
    in its state, every photo is processed, every printed login works, and the second run adds
    nothing."""
    from dermbridge import demo

    few = [SCENARIOS[0], SCENARIOS[2], SCENARIOS[-1]]
    monkeypatch.setattr(demo, "SCENARIOS", few)
    settings.BLOB_ROOT = tmp_path / "blobs"
    from dermbridge.imaging import storage

    storage.blob_store.cache_clear()
    try:
        call_command("demo", stdout=StringIO())
        images = LesionImage.objects.count()
        call_command("demo", stdout=StringIO())
    finally:
        storage.blob_store.cache_clear()
    # +2: Harold Pike's biopsied nose lesion and Edith Marsh's excision (demo_histology.py).
    assert Referral.objects.count() == len(few) + len(HUB_REFERRALS) + len(LESION_VISITS) + 2
    sent = Referral.objects.filter(imaging_hub__isnull=True)
    assert sorted(sent.values_list("state", flat=True)) == sorted(
        [*(s for s, _, _ in few), *(v[2] for v in LESION_VISITS), State.TRIAGED, State.TRIAGED]
    )
    # The histology demo: one result, which disagrees with the AI's reading of the lesion.
    from dermbridge.referrals.models import HistologyResult
    from dermbridge.referrals.severity import is_malignant
    from dermbridge.triage.models import Assessment

    (result,) = HistologyResult.objects.all()
    ai = Assessment.objects.filter(image__lesion=result.lesion, abstained=False).first()
    if ai is not None:
        assert (ai.band in ("high", "intermediate")) != is_malignant(result.morphology_code)
    # ... and one lesion waiting for its histology, twelve days after the excision was asked.
    from dermbridge.referrals.histology import awaiting_histology

    (waiting,) = awaiting_histology(
        get_user_model().objects.get(username="dermatologist"), result.lesion.referral.service_id
    )
    assert waiting.days == 12 and waiting.request.biopsy_request_id
    # The hub: two weeks of clinics, two referrals booked, two on today's day list, one that
    # did not attend (counted by the did-not-attend rule), the others on its booking list.
    from django.utils import timezone

    from dermbridge.clinics.attendance import dna_counts
    from dermbridge.clinics.models import Appointment, ClinicSession, Slot

    today = timezone.localdate()
    booked = Appointment.objects.filter(status="booked")
    assert booked.exclude(slot__session__date=today).count() == 2
    assert booked.filter(slot__session__date=today).count() == 2
    assert Appointment.objects.filter(status="did_not_attend").count() == 1
    hub = ClinicSession.objects.first().site.hub  # type: ignore[union-attr]
    assert dna_counts(hub, today.replace(day=1).replace(year=today.year - 1), today).rebooked == 1
    assert ClinicSession.objects.filter(date__gt=today).count() >= 8  # two weeks of weekdays
    assert Slot.objects.count() > 2 * 9
    assert images == LesionImage.objects.count() > 0
    assert not LesionImage.objects.exclude(status=ImageStatus.READY).exists()
    users = get_user_model().objects
    for login in DEMO_LOGINS:
        assert users.get(username=login.username).check_password(DEMO_PASSWORD), login.username


@pytest.mark.slow  # make bench; make test runs the small demo above (the same code path)
def test_demo_loads_every_role_and_the_whole_workflow_once(settings, tmp_path) -> None:
    """GIVEN an empty database WHEN `dermbridge demo` runs twice
    THEN every printed login works with the demo password, the referrals span the workflow,
    their photos went through the real pipeline, George's letters wait to be posted and the
    manager sees them; the second run adds nothing."""
    settings.BLOB_ROOT = tmp_path / "blobs"
    from dermbridge.imaging import storage

    storage.blob_store.cache_clear()
    try:
        call_command("demo", stdout=StringIO())
        referrals = Referral.objects.count()
        images = LesionImage.objects.count()
        call_command("demo", stdout=StringIO())
    finally:
        storage.blob_store.cache_clear()
    assert (
        referrals
        # +2: the histology demo's two patients (demo_histology.py)
        == len(SCENARIOS) + len(HUB_REFERRALS) + len(LESION_VISITS) + 2
        == Referral.objects.count()
    )
    assert images == LesionImage.objects.count() > 0
    assert {s for s, _, _ in SCENARIOS} == set(Referral.objects.values_list("state", flat=True))
    # Every state a case rests in; "submitted" lasts only until the worker queues it for review.
    assert set(Referral.objects.values_list("state", flat=True)) == set(State.values) - {
        State.SUBMITTED
    }
    assert set(Referral.objects.values_list("kind", flat=True)) == set(ReferralKind.values)
    assert not LesionImage.objects.exclude(status=ImageStatus.READY).exists()
    # The service's saved patient explanations, once however often the demo runs.
    from dermbridge.demo import EXPLANATIONS
    from dermbridge.referrals.models import ExplanationTemplate

    assert ExplanationTemplate.objects.count() == len(EXPLANATIONS)

    users = get_user_model().objects
    for login in DEMO_LOGINS:
        assert users.get(username=login.username).check_password(DEMO_PASSWORD), login.username
    printed = StringIO()
    call_command("demo", "--print-logins", stdout=printed)
    assert all(login.username in printed.getvalue() for login in DEMO_LOGINS)

    letters = OutboxMessage.objects.filter(channel=Channel.LETTER)
    assert letters.exists()
    assert set(letters.values_list("referral__patient__given_name", flat=True)) == {"George"}
    manager = Client()
    manager.force_login(users.get(username="manager"))
    page = manager.get("/letters/").content.decode()
    assert "George Evans" in page
