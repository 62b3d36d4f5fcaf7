"""The review page's earlier photos: of this lesion once linked, a labelled guess before."""

from __future__ import annotations

from dermbridge.audit.models import AuditEvent
from dermbridge.lesions import services
from dermbridge.lesions.earlier import earlier_photos
from dermbridge.lesions.models import PatientLesion
from dermbridge.lesions.tests.support import visit
from dermbridge.personas import World

OTHER_SITE = {"body_site_code": "41695006", "laterality": "", "pigmented": True}  # scalp


def test_linked_lesions_show_their_own_history_and_unlinked_ones_a_guess(world: World) -> None:
    first = visit(world, None, size=4, days_ago=400)
    scalp = visit(world, first.patient, size=5, days_ago=200, site=OTHER_SITE)
    latest = visit(world, first.patient, size=6)
    lesion = latest.lesions.get()
    tracked = PatientLesion.objects.get(encounters__lesion__referral=first)

    # Not linked yet: the site-and-side guess, which is not called this lesion.
    [(key, guess)] = earlier_photos(world.derek, latest, [lesion]).items()
    assert key == lesion.pk and not guess.linked and guess.patient_lesion_id is None
    assert {i.lesion.referral_id for i in guess.images} == {first.pk}

    # Linked -- here, to the scalp lesion, to show the link wins over the site: its photos.
    scalp_lesion = services.start_new(scalp.lesions.get(), user=world.derek).patient_lesion
    services.link(lesion, scalp_lesion, user=world.derek, reason="Same mark, site was mis-coded")
    linked = earlier_photos(world.derek, latest, [lesion])[lesion.pk]
    assert linked.linked and linked.patient_lesion_id == scalp_lesion.pk
    assert {i.lesion.referral_id for i in linked.images} == {scalp.pk}
    assert tracked.pk != scalp_lesion.pk
    event = AuditEvent.objects.filter(action="referral.compare_view").latest("seq")
    assert event.detail == {"earlier_referrals": [scalp.pk]}


def test_no_earlier_photo_of_a_referral_the_user_may_not_see(world: World) -> None:
    first = visit(world, None, size=4, days_ago=300)
    latest = visit(world, first.patient, size=6)
    lesion = latest.lesions.get()
    services.link(lesion, PatientLesion.objects.get(), user=world.derek)
    assert earlier_photos(world.derek, latest, [lesion])[lesion.pk].images
    for outsider in (world.bob, world.dora):
        assert earlier_photos(outsider, latest, [lesion])[lesion.pk].images == []
