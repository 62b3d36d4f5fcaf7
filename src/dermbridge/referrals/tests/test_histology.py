"""The histology loop's service (issue #14 item 4): a result per lesion matched by its biopsy
request, idempotent on the report identifier, the referral's summary code, and the list of
lesions awaiting histology."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dermbridge.audit.models import AuditEvent
from dermbridge.core.errors import InvalidReferral, NotPermitted
from dermbridge.referrals import histology
from dermbridge.referrals.models import HistologyResult, LesionOutcome, Outcome
from dermbridge.referrals.tests.histology_support import biopsied, request_of
from dermbridge.testing import World

DATA = {
    "morphology_code": "254701007",
    "reported_on": "2026-11-20",
    "report_text": "Basal cell carcinoma.",
    "margins": "involved",
    "margin_mm": "0",
    "laboratory": "City Pathology",
}


def test_a_result_is_recorded_once_per_report_and_summarised(world: World) -> None:
    referral = biopsied(world)
    request = request_of(referral)
    first = histology.record_result(
        request, user=world.derek, data=DATA, report_system="lab", report_identifier="R1"
    )
    assert first.created and first.result.lesion == request.lesion
    assert first.result.biopsy_request_id == request.biopsy_request_id
    again = histology.record_result(
        request, user=world.derek, data=DATA, report_system="lab", report_identifier="R1"
    )
    assert not again.created and again.result.pk == first.result.pk
    assert HistologyResult.objects.count() == 1
    outcome = Outcome.objects.get(referral=referral)
    assert outcome.histology_code == "254701007"  # the referral's summary for older readers
    assert AuditEvent.objects.filter(action="histology.record").count() == 1
    # A later benign report does not hide the malignant one in the summary.
    histology.record_result(
        request,
        user=world.derek,
        data={**DATA, "morphology_code": "400182000", "margins": "clear"},
        report_system="lab",
        report_identifier="R2",
    )
    outcome.refresh_from_db()
    assert outcome.histology_code == "254701007"


def test_refusals_name_the_field_and_write_nothing(world: World) -> None:
    referral = biopsied(world)
    request = request_of(referral)
    with pytest.raises(InvalidReferral) as caught:
        histology.record_result(
            request,
            user=world.derek,
            data={
                "morphology_code": "nope",
                "reported_on": (timezone.localdate() + timedelta(days=2)).isoformat(),
                "margins": "x",
                "margin_mm": "wide",
            },
            report_system="lab",
            report_identifier="R1",
        )
    errors = caught.value.field_errors
    assert set(errors) == {
        "morphology_code",
        "reported_on",
        "report_text",
        "margins",
        "margin_mm",
        "laboratory",
    }
    assert "cannot be in the future" in errors["reported_on"][0]
    # A lesion discharged has no biopsy request; another lesion cannot reuse a report number.
    with pytest.raises(InvalidReferral):
        histology.record_result(
            request_of(referral, 1),
            user=world.derek,
            data=DATA,
            report_system="lab",
            report_identifier="R9",
        )
    histology.record_result(
        request, user=world.derek, data=DATA, report_system="lab", report_identifier="R1"
    )
    other = biopsied(world)
    with pytest.raises(InvalidReferral) as caught:
        histology.record_result(
            request_of(other),
            user=world.derek,
            data=DATA,
            report_system="lab",
            report_identifier="R1",
        )
    assert "already recorded for another" in caught.value.field_errors["report_identifier"][0]
    assert HistologyResult.objects.count() == 1


def test_only_the_service_records_and_lists(world: World) -> None:
    referral = biopsied(world)
    for outsider in (world.alice, world.pat, world.dora, world.bob):
        with pytest.raises(NotPermitted):
            histology.record_result(
                request_of(referral),
                user=outsider,
                data=DATA,
                report_system="lab",
                report_identifier="R1",
            )
        with pytest.raises(NotPermitted):
            histology.awaiting_histology(outsider, world.service.pk)
    assert histology.find_request(request_of(referral).biopsy_request_id or "", world.dora) is None
    assert not HistologyResult.objects.exists()


def test_awaiting_histology_lists_the_oldest_first_with_days_waited(world: World) -> None:
    old, new = biopsied(world), biopsied(world)
    LesionOutcome.objects.filter(lesion__referral=old).update(
        recorded_at=timezone.now() - timedelta(days=12)
    )
    biopsied(world, service=world.service_b)  # another service's: never listed
    rows = histology.awaiting_histology(world.sam, world.service.pk)
    assert [(r.request.lesion.referral_id, r.days) for r in rows] == [(old.pk, 12), (new.pk, 0)]
    histology.record_result(
        request_of(old), user=world.derek, data=DATA, report_system="lab", report_identifier="R1"
    )
    assert [
        r.request.lesion.referral_id
        for r in histology.awaiting_histology(world.derek, world.service.pk)
    ] == [new.pk]


def test_a_migrated_copy_whose_referral_has_its_histology_is_not_awaiting(world: World) -> None:
    """The per-lesion migration copied a referral's one answer (biopsy) to each lesion; where
    that referral's histology was already recorded, none of its copies waits for anything. An
    unanswered migrated request stays listed (a safety net), and the list's audit event names
    the referrals it showed."""
    from dermbridge.audit.models import AuditEvent

    done, pending = biopsied(world), biopsied(world)
    LesionOutcome.objects.filter(lesion__referral__in=[done, pending]).update(
        from_referral_outcome=True
    )
    done.outcome.histology_code = "254701007"
    done.outcome.save(update_fields=["histology_code"])
    rows = histology.awaiting_histology(world.derek, world.service.pk)
    assert {r.request.lesion.referral_id for r in rows} == {pending.pk}
    event = AuditEvent.objects.filter(action="histology.awaiting_view").latest("seq")
    assert event.detail["shown"] == [pending.pk]
