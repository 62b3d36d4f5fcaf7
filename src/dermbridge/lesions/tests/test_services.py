"""Tracking, suggesting and linking a patient's lesions, and telling the service when a
monitored lesion is overdue: through the real referral services and signals."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.core.errors import InvalidInput, NotFound, NotPermitted
from dermbridge.lesions import matching, monitoring, services
from dermbridge.lesions.models import LesionEncounter, LinkChange, LinkHow, PatientLesion
from dermbridge.lesions.tests.support import visit
from dermbridge.notifications.models import OutboxMessage
from dermbridge.personas import World, make_referral
from dermbridge.referrals.models import State


def test_a_patients_first_photographed_lesion_is_tracked_when_sent(world: World) -> None:
    draft = make_referral(world, state=State.DRAFT)
    assert not PatientLesion.objects.exists()  # a draft's lesion is not yet a record
    first = visit(world, draft.patient, size=4)
    lesion = first.lesions.get()
    encounter = LesionEncounter.objects.get(lesion=lesion)
    assert encounter.how == LinkHow.CREATED and encounter.linked_by is None
    tracked = encounter.patient_lesion
    assert (tracked.patient_id, tracked.body_site_code, tracked.laterality) == (
        first.patient_id,
        "77568009",
        "left",
    )
    assert tracked.uid.startswith("2.25.")
    assert AuditEvent.objects.filter(action="lesion.created", object_id=str(tracked.pk)).exists()


def test_a_later_lesion_waits_for_the_dermatologist_with_a_ranked_suggestion(world: World) -> None:
    first = visit(world, None, size=4, days_ago=400, phash="ffff0000ffff0000")
    patient = first.patient
    other_site = {"body_site_code": "51185008", "laterality": "", "pigmented": False}
    chest = visit(world, patient, size=3, description="Scaly pink patch", site=other_site)
    chest_lesion = chest.lesions.get()
    # The chest lesion is not linked on its own: the patient already has a lesion.
    assert not LesionEncounter.objects.filter(lesion=chest_lesion).exists()
    chest_pl = services.start_new(chest_lesion, user=world.derek)
    assert chest_pl.how == LinkHow.NEW

    later = visit(world, patient, size=6, days_ago=10, phash="ffff0000ffff0001")
    lesion = later.lesions.get()
    ranked = services.suggestions(lesion)
    back = LesionEncounter.objects.get(lesion=first.lesions.get()).patient_lesion
    assert [s.patient_lesion for s in ranked] == [back, chest_pl.patient_lesion]
    best = ranked[0].score
    assert best.suggested and best.parts["site"] == 1.0 and best.parts["image"] > 0.9
    assert best.parts["size"] == pytest.approx(4 / 6, abs=0.01)
    assert not ranked[1].score.suggested

    encounter = services.link(lesion, back, user=world.derek, reason="Same mole, larger")
    assert encounter.how == LinkHow.CONFIRMED and encounter.linked_by == world.derek
    assert encounter.score == best.total
    event = AuditEvent.objects.get(action="lesion.link")
    assert event.actor_id == world.derek.pk and event.detail["to"] == back.uid
    assert event.detail["reason"] == "Same mole, larger"

    # A wrong match undone: a new lesion of its own, from the same place, audited.
    moved = services.start_new(lesion, user=world.derek, reason="Different mole")
    assert moved.patient_lesion != back
    relink = AuditEvent.objects.get(action="lesion.relink")
    assert relink.detail["from"] == back.uid and relink.detail["to"] == moved.patient_lesion.uid
    changes = LinkChange.objects.filter(lesion=lesion).order_by("at", "id")
    assert [(c.from_lesion, c.how) for c in changes] == [
        (None, LinkHow.CONFIRMED),
        (back, LinkHow.NEW),
    ]
    # And back again by hand.
    services.link(lesion, back, user=world.derek)
    assert LesionEncounter.objects.get(lesion=lesion).patient_lesion == back


def test_only_the_services_dermatologists_link_and_only_to_the_same_patient(world: World) -> None:
    first = visit(world, None, size=4, days_ago=300)
    back = PatientLesion.objects.get()
    later = visit(world, first.patient, size=5)
    lesion = later.lesions.get()
    for outsider in (world.dora, world.sam, world.alice, world.pat):
        with pytest.raises(NotPermitted):
            services.link(lesion, back, user=outsider)
        with pytest.raises(NotPermitted):
            services.start_new(lesion, user=outsider)
    stranger = visit(world, None, size=4)
    strangers_lesion = PatientLesion.objects.get(patient=stranger.patient)
    with pytest.raises(NotFound):
        services.link(lesion, strangers_lesion, user=world.derek)
    with pytest.raises(InvalidInput) as error:
        services.link(lesion, back, user=world.derek, reason="x" * 301)
    assert "reason" in error.value.field_errors
    assert not LesionEncounter.objects.filter(lesion=lesion).exists()
    assert not AuditEvent.objects.filter(action__in=("lesion.link", "lesion.relink")).exists()


def test_two_lesions_of_one_referral_are_never_one_lesion(world: World) -> None:
    two = [
        {"body_site_code": "77568009", "laterality": "left", "size_mm": 4, "description": "A"},
        {"body_site_code": "77568009", "laterality": "left", "size_mm": 5, "description": "B"},
    ]
    referral = make_referral(world, state=State.AWAITING_REVIEW, lesions=two)
    first, second = referral.lesions.order_by("number")
    # The first is tracked on submit; the second is not a candidate for the first's lesion.
    assert LesionEncounter.objects.filter(lesion=first).exists()
    assert services.suggestions(second) == []
    assert LesionEncounter.objects.filter(lesion=second).exists()  # nothing else to be
    with pytest.raises(InvalidInput):
        services.link(second, first.encounter.patient_lesion, user=world.derek)


def test_an_overdue_monitored_lesion_is_told_to_the_service_once(world: World) -> None:
    first = visit(world, None, size=4, days_ago=200)
    tracked = PatientLesion.objects.get()
    with pytest.raises(InvalidInput):
        services.set_monitoring(tracked, timezone.localdate(), user=world.derek)
    with pytest.raises(NotPermitted):
        services.set_monitoring(
            tracked, timezone.localdate() + dt.timedelta(days=90), user=world.dora
        )
    services.set_monitoring(tracked, timezone.localdate() + dt.timedelta(days=90), user=world.derek)
    assert monitoring.tell_overdue() == 0  # not yet due
    later = timezone.localdate() + dt.timedelta(days=91)
    assert monitoring.tell_overdue(later) == 1
    messages = OutboxMessage.objects.filter(event=monitoring.EVENT)
    recipients = set(messages.values_list("recipient", flat=True))
    assert world.service.email.lower() in recipients and world.derek.email.lower() in recipients
    assert world.alice.email.lower() not in recipients
    body = messages.first().body  # type: ignore[union-attr]
    assert first.reference in body and first.patient.family_name not in body
    assert monitoring.tell_overdue(later) == 0  # told once
    assert AuditEvent.objects.filter(action="lesion.monitor_overdue").count() == 1


def test_new_photos_before_the_review_date_mean_nothing_is_overdue(world: World) -> None:
    first = visit(world, None, size=4, days_ago=200)
    tracked = PatientLesion.objects.get()
    services.set_monitoring(tracked, timezone.localdate() + dt.timedelta(days=30), user=world.derek)
    later = visit(world, first.patient, size=4)
    services.link(later.lesions.get(), tracked, user=world.derek)
    assert monitoring.tell_overdue(timezone.localdate() + dt.timedelta(days=31)) == 0


def test_the_score_weights_add_up_and_a_perfect_match_scores_one() -> None:
    assert sum(matching.WEIGHTS.values()) == pytest.approx(1.0)
    same = matching.Facts("77568009", "left", "dark mole irregular", 5.0, ("ab" * 8,))
    assert matching.score(same, same).total == pytest.approx(1.0)
    other = matching.Facts("51185008", "right", "pink scaly patch", 2.0, ("00" * 8,))
    assert matching.score(same, other).total < matching.SUGGEST_AT


def test_the_overdue_check_is_one_of_the_scheduled_tasks() -> None:
    from dermbridge.core.scheduler import PERIODIC_TASKS
    from dermbridge.lesions.tasks import tell_overdue_monitoring

    assert "dermbridge.lesions.tasks.tell_overdue_monitoring" in PERIODIC_TASKS
    assert tell_overdue_monitoring.module_path == "dermbridge.lesions.tasks.tell_overdue_monitoring"


TEXTS = {
    "management_plan": "Monitor the mole on the back.",
    "advice_to_referrer": "Benign-looking naevus; photograph again in 6 months.",
    "patient_explanation": "The mole looks harmless; we will check it again.",
}


def _answer(world: World, referral, management: str, review: dt.date | None) -> None:  # type: ignore[no-untyped-def]
    from dermbridge.referrals import services as referrals

    referrals.claim(referral, user=world.derek)
    lesion = {"lesion": 1, "diagnosis_code": "400182000", "management": management}
    if review:
        lesion["review_date"] = review.isoformat()
    referrals.record_outcome(referral, user=world.derek, action="triage", lesions=[lesion], **TEXTS)


def test_monitoring_follows_the_dermatologists_per_lesion_outcome(world: World) -> None:
    """GIVEN a lesion answered "monitor" with a review date (referrals.LesionOutcome) THEN the
    patient lesion is monitored until then; a later visit answered "discharge" ends it, and
    the overdue check then tells nobody."""
    review = timezone.localdate() + dt.timedelta(days=180)
    first = visit(world, None, size=4, days_ago=200)
    tracked = PatientLesion.objects.get()
    _answer(world, first, "monitor", review)
    tracked.refresh_from_db()
    assert tracked.monitor_until == review and tracked.monitor_set_by == world.derek
    event = AuditEvent.objects.filter(action="lesion.monitor").latest("seq")
    assert event.actor_id is None and event.detail["from_outcome"] == first.reference
    assert monitoring.tell_overdue(review + dt.timedelta(days=1)) == 1

    later = visit(world, first.patient, size=4)
    services.link(later.lesions.get(), tracked, user=world.derek)
    _answer(world, later, "discharge", None)
    tracked.refresh_from_db()
    assert tracked.monitor_until is None
    assert monitoring.tell_overdue(review + dt.timedelta(days=400)) == 0


def test_a_lesion_linked_after_its_outcome_takes_the_outcomes_review_date(world: World) -> None:
    first = visit(world, None, size=4, days_ago=200)
    tracked = PatientLesion.objects.get()
    later = visit(world, first.patient, size=5)
    review = timezone.localdate() + dt.timedelta(days=90)
    _answer(world, later, "monitor", review)  # answered before anyone linked it
    tracked.refresh_from_db()
    assert tracked.monitor_until is None
    services.link(later.lesions.get(), tracked, user=world.derek)
    tracked.refresh_from_db()
    assert tracked.monitor_until == review


def test_a_photo_ready_for_a_sent_referral_tracks_its_lesion_but_not_a_drafts(
    world: World,
) -> None:
    """The imaging app's image_ready (a hub photographing a referral already sent, say) reaches
    the lesions app's receiver; a draft's photos do not make a record."""
    from dermbridge.imaging.models import LesionImage
    from dermbridge.imaging.signals import image_ready

    draft = make_referral(world, state=State.DRAFT)
    image_ready.send(sender=LesionImage, image=draft.lesions.get().images.first())
    assert not PatientLesion.objects.exists()

    sent = visit(world, None, size=4)
    lesion = sent.lesions.get()
    LesionEncounter.objects.filter(lesion=lesion).delete()  # as if sent before any photo
    LinkChange.objects.filter(lesion=lesion).delete()
    PatientLesion.objects.all().delete()
    image_ready.send(sender=LesionImage, image=lesion.images.first())
    encounter = LesionEncounter.objects.get(lesion=lesion)
    assert encounter.how == LinkHow.CREATED
    image_ready.send(sender=LesionImage, image=lesion.images.last())  # idempotent
    assert PatientLesion.objects.count() == 1
