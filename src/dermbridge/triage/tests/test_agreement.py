"""AI–dermatologist–histology agreement is stored and reported per model version."""

from __future__ import annotations

import pytest

from dermbridge.core.errors import NotPermitted
from dermbridge.imaging.models import LesionImage
from dermbridge.referrals import services
from dermbridge.referrals.models import Referral, State
from dermbridge.testing import make_referral
from dermbridge.triage.models import Agreement, Assessment
from dermbridge.triage.services import agreement_report, update_referral_risk


def _assess(referral: Referral, probability: float, band: str, version: str = "test-v0") -> None:
    image = LesionImage.objects.get(lesion__referral=referral, image_type="dermoscopic")
    Assessment.objects.create(
        image=image,
        model_version=version,
        input_sha256="0" * 64,
        probabilities={"mel": probability, "nv": 1 - probability},
        malignant_probability=probability,
        band=band,
    )
    update_referral_risk(referral.pk)


def test_it_records_agreement_on_outcome_and_histology(world, django_capture_on_commit_callbacks):
    """GIVEN the AI called a lesion low risk
    WHEN the dermatologist diagnoses melanoma and histology later confirms it
    THEN the disagreement is stored for that model version and the report shows the AI missed it."""
    referral = make_referral(world, state=State.IN_REVIEW)
    _assess(referral, 0.05, "low")
    assert Referral.objects.get(pk=referral.pk).ai_band == "low"
    with django_capture_on_commit_callbacks(execute=True):
        services.record_outcome(
            referral,
            user=world.derek,
            action="triage",
            diagnosis_code="372244006",
            management_plan="Excision",
            advice_to_referrer="Urgent excision booked",
            patient_explanation="We need to remove this mark to check it.",
            pathway_decision="surgery",
        )
    agreement = Agreement.objects.get(referral=referral)
    assert agreement.dermatologist_malignant and not agreement.ai_suggests_malignant
    with pytest.raises(NotPermitted):
        services.record_histology(referral, user=world.alice, histology_code="372244006")
    with django_capture_on_commit_callbacks(execute=True):
        services.record_histology(referral, user=world.derek, histology_code="372244006")
    agreement.refresh_from_db()
    assert agreement.histology_malignant is True
    (row,) = agreement_report()
    assert row["model_version"] == "test-v0" and row["cases"] == 1
    assert row["agreement_with_dermatologist"] == 0.0
    assert row["ai_sensitivity_vs_histology"] == 0.0
    assert row["dermatologist_sensitivity_vs_histology"] == 1.0


def test_it_orders_by_the_riskiest_lesion(world):
    referral = make_referral(world, state=State.AWAITING_REVIEW)
    _assess(referral, 0.7, "high", version="v-a")
    _assess(referral, 0.2, "intermediate", version="v-b")
    r = Referral.objects.get(pk=referral.pk)
    # The sort key is the band's rank plus the probability (ADR 0002): high is 4 + p.
    assert (
        r.ai_risk == pytest.approx(0.7) and r.ai_band == "high" and r.ai_sort == pytest.approx(4.7)
    )
