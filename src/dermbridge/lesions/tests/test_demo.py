"""The lesions demo: Rosa Whitfield's lesion seen three times over two years, growing, linked,
measured on the comparison page; her second lesion under monitoring. Real pipeline photos."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from dermbridge.lesions.demo import VISITS, load_lesion_demo
from dermbridge.lesions.models import PatientLesion, PhotoMeasurement
from dermbridge.personas import World


def test_the_demo_patients_lesion_grows_over_three_visits(world: World, settings, tmp_path) -> None:
    settings.BLOB_ROOT = tmp_path / "blobs"
    from dermbridge.imaging import storage

    storage.blob_store.cache_clear()
    try:
        growing = load_lesion_demo(world)
        assert growing.encounters.count() == len(VISITS) == 3
        days = [
            (timezone.now() - e.lesion.referral.created_at).days
            for e in growing.encounters.select_related("lesion__referral")
        ]
        assert max(days) >= 729 and min(days) <= 4
        monitored = PatientLesion.objects.exclude(pk=growing.pk).get()
        assert (
            monitored.monitor_until is not None and monitored.monitor_until > timezone.localdate()
        )
        client = Client()
        client.force_login(world.derek)
        page = client.get(f"/lesions/{growing.pk}/compare/").content.decode()
        # The photos, through the real pipeline, measure what the demo drew: 4, 5.5, 7.5 mm.
        measured = [
            m.results["diameter_mm"]
            for m in PhotoMeasurement.objects.order_by("image__lesion__referral__created_at")
        ]
        assert measured == pytest.approx([d for _, d, *_ in VISITS], abs=0.3), measured
        assert "mm a year" in page
        # Each answered visit shows the dermatologist's diagnosis and management for it.
        from dermbridge.referrals.models import LesionOutcome

        answers = LesionOutcome.objects.filter(lesion__encounter__patient_lesion=growing)
        assert answers.count() == 2  # the third visit awaits review
        for answer in answers:
            assert f"{answer.diagnosis_label} · {answer.get_management_display()}" in page
        body_map = client.get(f"/lesions/patients/{growing.patient_id}/").content.decode()
        assert "Back of the body" in body_map and "Front of the body" in body_map
        for answer in answers:  # each visit's answer in the lesion's history too
            assert f"{answer.diagnosis_label} · {answer.get_management_display()}" in body_map
        assert "Not yet answered" in body_map  # the third visit awaits review
    finally:
        storage.blob_store.cache_clear()
