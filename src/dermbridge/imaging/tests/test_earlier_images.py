"""Earlier photos of the same lesion, for the dermatologist's side-by-side comparison."""

from __future__ import annotations

from dermbridge.imaging.services import earlier_images
from dermbridge.referrals.models import State
from dermbridge.testing import DEFAULT_LESION, World, make_patient, make_referral


def test_it_finds_the_same_lesion_in_the_patients_earlier_referrals_only(world: World) -> None:
    """GIVEN a patient referred twice for the left back lesion (and once for the scalp), and
    another patient with a left back lesion WHEN derek reviews the latest referral
    THEN he is offered the first referral's left back photos only, newest referral first;
    bob (another practice) is offered none."""
    patient = make_patient(world.practice_a, world.alice)
    first = make_referral(world, state=State.AWAITING_REVIEW, patient=patient)
    make_referral(
        world,
        state=State.AWAITING_REVIEW,
        patient=patient,
        lesions=[{**DEFAULT_LESION, "body_site_code": "41695006", "laterality": ""}],
    )
    make_referral(world, state=State.AWAITING_REVIEW)  # someone else's back
    right_side = make_referral(
        world,
        state=State.AWAITING_REVIEW,
        patient=patient,
        lesions=[{**DEFAULT_LESION, "laterality": "right"}],
    )
    latest = make_referral(world, state=State.AWAITING_REVIEW, patient=patient)
    lesion = latest.lesions.get()

    found = earlier_images(lesion, user=world.derek)

    assert {i.lesion.referral_id for i in found} == {first.pk}
    assert len(found) == 3
    assert right_side.pk not in {i.lesion.referral_id for i in found}
    assert earlier_images(first.lesions.get(), user=world.derek) == []
    assert earlier_images(lesion, user=world.bob) == []
