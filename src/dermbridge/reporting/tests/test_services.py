"""Every dashboard number on the hand-built clinic (conftest.py), worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from dermbridge.referrals.models import Referral
from dermbridge.reporting import services
from dermbridge.reporting.metrics import Period
from dermbridge.reporting.tests.conftest import NOW, PERIOD, Clinic

pytestmark = pytest.mark.django_db


def test_it_counts_referrals_per_week_by_pathway(clinic: Clinic) -> None:
    """GIVEN the clinic's referrals WHEN counted per week from Monday 5 October
    THEN each week has its A&G/RAS/USC counts, empty weeks show zero, and neither the referral
    from before the period nor County's referral is counted."""
    weeks = services.weekly_counts(clinic.world.service.pk, PERIOD)
    got = [(w.week_start, w.advice, w.triage, w.urgent_cancer) for w in weeks]
    assert got == [
        (date(2026, 10, 5), 0, 0, 1),
        (date(2026, 10, 12), 0, 0, 1),
        (date(2026, 10, 19), 0, 0, 0),
        (date(2026, 10, 26), 0, 0, 0),
        (date(2026, 11, 2), 2, 1, 2),
        (date(2026, 11, 9), 1, 2, 0),
        (date(2026, 11, 16), 1, 0, 1),
    ]
    assert sum(w.total for w in weeks) == 12


def test_it_measures_response_times_in_working_days(clinic: Clinic) -> None:
    """GIVEN A&G answers after 0.25, 0.75 (Friday to Monday) and 4 working days, one of them
    late, and one unanswered request past its target
    THEN the median is 0.75, the 90th percentile 3.35, and 2 of 4 were within target.
    RAS answers after 2 and 0.25 working days, both in time, and one case still inside target:
    median 1.125, 90th percentile 1.825, 2 of 2 within target."""
    ag, ras = services.response_times(clinic.world.service, PERIOD, NOW)
    assert (ag.kind, ag.target_working_days, ag.answered) == ("ag", 2, 3)
    assert ag.median_working_days == pytest.approx(0.75)
    assert ag.p90_working_days == pytest.approx(3.35)
    assert (ag.answered_within_target, ag.overdue_unanswered, ag.assessed) == (2, 1, 4)
    assert ag.share_within_target == pytest.approx(0.5)
    assert (ras.kind, ras.target_working_days, ras.answered) == ("ras", 5, 2)
    assert ras.median_working_days == pytest.approx(1.125)
    assert ras.p90_working_days == pytest.approx(1.825)
    assert (ras.answered_within_target, ras.overdue_unanswered) == (2, 0)
    assert ras.share_within_target == pytest.approx(1.0)


def test_it_reports_the_outcome_mix_and_the_headline_share(clinic: Clinic) -> None:
    """GIVEN 3 advice answers, 1 discharge, 1 routine clinic, 1 urgent clinic and 1 biopsy
    THEN 4 of 7 outcomes managed the patient without a face-to-face appointment."""
    mix = services.outcome_mix(clinic.world.service.pk, PERIOD)
    counts = {d.decision: d.count for d in mix.decisions}
    assert counts == {
        "advice": 3,
        "routine_clinic": 1,
        "urgent_clinic": 1,
        "biopsy": 1,
        "surgery": 0,
        "discharge": 1,
    }
    assert {d.decision for d in mix.decisions if d.face_to_face} == {
        "routine_clinic",
        "urgent_clinic",
        "biopsy",
        "surgery",
    }
    assert (mix.without_face_to_face, mix.total) == (4, 7)
    assert mix.share_without_face_to_face == pytest.approx(4 / 7)


def test_it_measures_the_faster_diagnosis_standard(clinic: Clinic) -> None:
    """GIVEN USC referrals: one patient told on day 14, one told on day 30, one not told after
    37 days, one 2 days old, and one withdrawn
    THEN 1 met, 2 breached (late, and open past 28 days), 1 pending: compliance 1 of 3;
    the withdrawn referral is not counted."""
    fds = services.faster_diagnosis(clinic.world.service.pk, PERIOD, NOW)
    assert (fds.told_within, fds.told_late, fds.not_told_past_due, fds.pending) == (1, 1, 1, 1)
    assert fds.counted == 3 and fds.breached == 2
    assert fds.compliance == pytest.approx(1 / 3)
    assert fds.national_target == 0.80 and fds.skin_expectation == 0.90
    assert fds.meets_national_target is False


def test_it_reports_ai_agreement_per_model_version_for_this_service_only(clinic: Clinic) -> None:
    """GIVEN model v1 agreed with City's dermatologists on 2 of 3 cases and missed one
    histology-proven cancer, and v2 disagreed on its only case; County has a v1 case too
    THEN v1: 3 cases, 67% agreement, AI sensitivity 1/2, dermatologist 2/2; v2: 1 case, 0%;
    County's case is not counted."""
    v1, v2 = services.model_agreement(clinic.world.service.pk, PERIOD)
    assert (v1.model_version, v1.cases, v1.agreed) == ("v1", 3, 2)
    assert v1.agreement_with_dermatologist == pytest.approx(2 / 3)
    assert v1.dermatologist_malignant_ai_low == 1
    assert (v1.with_histology, v1.histology_proven_malignant) == (2, 2)
    assert v1.ai_sensitivity_vs_histology == pytest.approx(0.5)
    assert v1.dermatologist_sensitivity_vs_histology == pytest.approx(1.0)
    assert (v2.model_version, v2.cases, v2.agreed, v2.with_histology) == ("v2", 1, 0, 1)
    assert v2.ai_sensitivity_vs_histology is None


def test_it_counts_open_cases_near_and_past_target(clinic: Clinic) -> None:
    """GIVEN, at noon on 18 November, an A&G request due at 09:00, a RAS referral due at 13:00
    (warned since yesterday) and USC referrals 37 days and 2 days old, none answered
    THEN A&G 1 open 1 past target; RAS 1 open 1 near; USC 2 open 1 past target;
    and the counts agree with Referral.breach_status."""
    rows = {o.kind: (o.open, o.near_breach, o.breached) for o in services.open_cases(
        clinic.world.service.pk, NOW)}  # fmt: skip
    assert rows == {"ag": (1, 0, 1), "ras": (1, 1, 0), "usc": (2, 0, 1)}
    statuses = sorted(
        r.breach_status(NOW)
        for r in Referral.objects.filter(
            service=clinic.world.service, state__in=("awaiting_review", "in_review")
        )
    )
    assert statuses == ["breached", "breached", "near", "ok"]


def test_it_builds_the_whole_dashboard_in_six_queries(
    clinic: Clinic, django_assert_num_queries: object
) -> None:
    service = clinic.world.service
    with django_assert_num_queries(6):  # type: ignore[operator]
        board = services.service_dashboard(service, PERIOD, NOW)
    assert board.referrals_in_period == 12
    assert board.open_totals.breached == 2 and board.open_totals.open == 4
    assert board.fds.told_within == 1 and board.outcomes.total == 7


def test_it_exports_per_referral_rows_without_patient_identifiers(clinic: Clinic) -> None:
    rows = {r.reference: r for r in services.export_rows(clinic.world.service.pk, PERIOD, NOW)}
    assert len(rows) == 12
    assert clinic.reference("old") not in rows and clinic.reference("county") not in rows
    a3 = rows[clinic.reference("a3")]
    assert a3.cells() == [
        clinic.reference("a3"),
        "ag",
        "advice_given",
        "2026-11-09T09:00+00:00",
        "2026-11-11T09:00+00:00",
        "2026-11-13T09:00+00:00",
        "",
        "advice",
        "no",
    ]
    assert rows[clinic.reference("a1")].within_target is True
    assert rows[clinic.reference("r3")].within_target is None  # still inside its target
    assert rows[clinic.reference("u3")].within_target is False  # not told, past 28 days
    assert rows[clinic.reference("u2")].cells()[6:] == ["2026-11-04T09:00+00:00", "biopsy", "no"]
    assert rows[clinic.reference("u5")].within_target is None  # withdrawn


def test_it_selects_by_submission_date_in_london(clinic: Clinic) -> None:
    """GIVEN a period of one day THEN only referrals submitted that day (London time) count."""
    weeks = services.weekly_counts(
        clinic.world.service.pk, Period(date(2026, 11, 2), date(2026, 11, 2))
    )
    assert [(w.advice, w.triage, w.urgent_cancer) for w in weeks] == [(1, 0, 1)]
