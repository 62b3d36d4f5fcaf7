"""Image-set completeness per lesion and pathway, and a service's own rules (validated)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from dermbridge.imaging.services import lesion_image_set
from dermbridge.referrals.models import ReferralKind
from dermbridge.testing import World, make_referral


def test_default_rules_ask_a_pigmented_lesion_for_a_dermoscopic_image(world: World) -> None:
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    assert lesion.pigmented  # the default lesion is pigmented
    status = lesion_image_set(lesion, world.service, ReferralKind.TRIAGE)
    assert status["missing"] == ["overview", "close_up", "dermoscopic"]
    lesion.pigmented = False
    assert lesion_image_set(lesion, world.service, ReferralKind.TRIAGE)["missing"] == [
        "overview",
        "close_up",
    ]


def test_a_service_rule_for_one_pathway_applies_to_that_pathway_only(world: World) -> None:
    """GIVEN City Hospital asks for a dermoscopic image of every lesion on the USC pathway
    THEN a non-pigmented USC lesion needs one; an A&G request keeps the default rules."""
    world.service.required_image_types = {"usc": {"all": ["overview", "close_up", "dermoscopic"]}}
    world.service.full_clean()
    world.service.save()
    referral = make_referral(world, images=False, kind=ReferralKind.URGENT_CANCER)
    lesion = referral.lesions.get()
    lesion.pigmented = False
    lesion.save(update_fields=["pigmented"])
    assert lesion_image_set(lesion, world.service, "usc")["missing"] == [
        "overview",
        "close_up",
        "dermoscopic",
    ]
    assert lesion_image_set(lesion, world.service, "ag")["missing"] == ["overview", "close_up"]
    # What the photo page shows before sending: the missing dermoscopic photo is named.
    client = Client()
    client.force_login(world.alice)
    page = client.get(f"/referrals/{referral.pk}/lesions/{lesion.pk}/photos/").content.decode()
    assert "<strong>Still needed:</strong> a dermoscopic photo" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "required_image_types",
            {"usc": {"all": ["dermoscopy"]}},
            "unknown image types dermoscopy",
        ),
        ("required_image_types", {"urgent": {"all": ["overview"]}}, "Unknown pathway 'urgent'"),
        ("required_image_types", {"usc": ["overview"]}, "give 'all'"),
        ("blocking_quality_checks", ["blurry"], "Unknown quality checks blurry"),
    ],
)
def test_a_mistyped_service_rule_is_refused_with_what_is_allowed(
    world: World, field: str, value: object, message: str
) -> None:
    setattr(world.service, field, value)
    with pytest.raises(ValidationError) as info:
        world.service.full_clean()
    assert message in " ".join(info.value.message_dict[field])
