"""The AI drift monitor: organisation-week rows and warnings against calibration limits."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from dermbridge.imaging.models import LesionImage
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import make_referral
from dermbridge.triage.inference import OOD_REASON
from dermbridge.triage.models import Assessment
from dermbridge.triage.monitoring import DriftRow, check, drift

REF = {
    "abstention_rate": 0.03,
    "malignant_probability_mean": 0.2,
    "malignant_probability_sd": 0.25,
    "high_band_rate": 0.15,
    "agreement_rate": 0.6,
}


def row(**kw: object) -> DriftRow:
    base: dict[str, object] = {
        "organisation": "Practice",
        "week": date(2026, 11, 23),
        "model_version": "triage-v3",
        "photos": 100,
        "declined": 3,
        "declined_by_gate": 1,
        "not_dermoscopic": 2,
        "mean_malignant_probability": 0.2,
        "high_band": 15,
    }
    base.update(kw)
    return DriftRow(**base)  # type: ignore[arg-type]


def test_a_week_like_the_calibration_data_raises_no_warning() -> None:
    assert check(row(), REF) == []


def test_drift_beyond_the_limits_is_warned_on() -> None:
    warnings = check(row(declined=30, mean_malignant_probability=0.5, high_band=60), REF)
    assert any("declined 30%" in w and "above" in w for w in warnings)
    assert any("mean malignancy probability 0.50, above" in w for w in warnings)
    assert any(w.startswith("high band") for w in warnings)
    low = check(row(agreement_cases=50, agreed=10), REF)
    assert any("agreement 20%" in w for w in low)


def test_small_weeks_and_unknown_models_are_not_warned_on() -> None:
    assert check(row(photos=10, declined=9), REF) == []
    assert check(row(declined=90), None) == []


def test_rows_per_referring_organisation_and_week(world) -> None:
    referral = make_referral(world, state=State.IN_REVIEW)
    Referral.objects.filter(pk=referral.pk).update(submitted_at=timezone.now())
    image = LesionImage.objects.get(lesion__referral=referral, image_type="dermoscopic")
    Assessment.objects.create(
        image=image,
        model_version="triage-v3",
        input_sha256="0" * 64,
        probabilities={"mel": 0.4, "nv": 0.6},
        malignant_probability=0.4,
        band="high",
    )
    Assessment.objects.create(
        image=image,
        model_version="test-v0",
        input_sha256="0" * 64,
        abstained=True,
        abstention_reason=OOD_REASON,
    )
    now = timezone.now()
    rows = drift(referral.service_id, now - timedelta(days=1), now + timedelta(days=1))
    by_version = {r.model_version: r for r in rows}
    assert by_version["triage-v3"].photos == 1 and by_version["triage-v3"].high_band == 1
    assert by_version["triage-v3"].mean_malignant_probability == 0.4
    assert by_version["test-v0"].not_dermoscopic == 1 and by_version["test-v0"].declined == 1
    assert all(r.organisation == referral.referring_org.name for r in rows)
    assert all(r.warnings == [] for r in rows)  # one photo: too few to tell
