"""The data migration 0005 (issue #14 item 1): each referral-level Outcome becomes a
LesionOutcome for each of the referral's lesions, without loss, and reverses cleanly.

Real migrations (Django's MigrationExecutor): the schema is taken back to 0003 -- before
LesionOutcome existed -- rows are written with that state's models, and the schema is brought
forward through 0004 and 0005 again."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("referrals", "0003_explanation_templates_and_ai_declined_sort")]
AFTER = [("referrals", "0005_lesion_outcomes_from_referral")]


def _migrate(targets: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    # The state of every app as migrated (the other apps stay at their latest migrations).
    return executor.migrate(targets).apps


def _old_rows(apps):  # type: ignore[no-untyped-def]
    """Two referrals as they were before: one with two lesions (biopsy), one with one lesion
    (discharge), and one referral with no outcome yet."""
    Organisation = apps.get_model("accounts", "Organisation")
    User = apps.get_model("accounts", "User")
    Patient = apps.get_model("patients", "Patient")
    Referral = apps.get_model("referrals", "Referral")
    Lesion = apps.get_model("referrals", "Lesion")
    Outcome = apps.get_model("referrals", "Outcome")
    org = Organisation.objects.create(
        name="Practice", ods_code="MIG01", kind="practice", patient_phone="", patient_phone_hours=""
    )
    user = User.objects.create(username="migrator")
    patient = Patient.objects.create(
        nhs_number="9434765919",
        given_name="Ann",
        family_name="Old",
        date_of_birth="1950-01-01",
        registered_practice=org,
    )
    made = {}
    for ref, lesions, decision, code, histology in (
        ("DB-MIGRAT2", 2, "biopsy", "254701007", "254701007"),
        ("DB-MIGRAT1", 1, "discharge", "400182000", ""),
        ("DB-MIGRAT0", 1, None, "", ""),
    ):
        referral = Referral.objects.create(
            reference=ref,
            kind="ras",
            state="triaged" if decision else "awaiting_review",
            patient=patient,
            referring_org=org,
            referrer=user,
            service=org,
        )
        for number in range(1, lesions + 1):
            Lesion.objects.create(referral=referral, number=number, body_site_code="77568009")
        if decision:
            Outcome.objects.create(
                referral=referral,
                diagnosis_code=code,
                management_plan="plan",
                advice_to_referrer="advice",
                patient_explanation="explanation",
                pathway_decision=decision,
                histology_code=histology,
                recorded_by=user,
            )
        made[ref] = referral.pk
    return made


def test_each_outcome_becomes_an_outcome_for_each_lesion_and_reverses() -> None:
    try:
        made = _old_rows(_migrate(BEFORE))
        apps = _migrate(AFTER)
        LesionOutcome = apps.get_model("referrals", "LesionOutcome")
        Outcome = apps.get_model("referrals", "Outcome")
        rows = list(
            LesionOutcome.objects.order_by("lesion__referral__reference", "lesion__number").values(
                "lesion__referral__reference",
                "lesion__number",
                "diagnosis_code",
                "management",
                "biopsy_request_id",
                "from_referral_outcome",
            )
        )
        assert [tuple(r.values()) for r in rows] == [
            ("DB-MIGRAT1", 1, "400182000", "discharge", None, True),
            ("DB-MIGRAT2", 1, "254701007", "biopsy", "BX-MIGRAT2-1", True),
            ("DB-MIGRAT2", 2, "254701007", "biopsy", "BX-MIGRAT2-2", True),
        ]
        # Nothing is lost: the referral-level outcomes are untouched, histology included.
        kept = Outcome.objects.get(referral_id=made["DB-MIGRAT2"])
        assert (kept.diagnosis_code, kept.pathway_decision, kept.histology_code) == (
            "254701007",
            "biopsy",
            "254701007",
        )
        assert Outcome.objects.count() == 2
        # Reversed: the copies go, the outcomes stay.
        apps = _migrate([("referrals", "0004_lesion_outcome")])
        assert apps.get_model("referrals", "LesionOutcome").objects.count() == 0
        assert apps.get_model("referrals", "Outcome").objects.count() == 2
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
