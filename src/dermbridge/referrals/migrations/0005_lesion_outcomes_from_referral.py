"""Each referral-level Outcome becomes a LesionOutcome for each of the referral's lesions
(issue #14 item 1; docs/adr/0014-per-lesion-outcome.md).

Before, a referral had one diagnosis for all its lesions. That diagnosis was given for each of
them -- the dermatologist answered for the referral as a whole -- so it is copied to *every*
lesion, not only the first: putting it on one lesion would leave the others with no outcome
(they would vanish from histology, concordance and awaiting-histology lists) and would guess
which lesion it meant. The copies are marked ``from_referral_outcome`` so a report can tell
them from a per-lesion answer. Management comes from the referral's decision (urgent or routine
clinic -> clinic, biopsy -> biopsy, surgery -> excision, advice or discharge -> discharge); a
tissue-taking management gets its biopsy request identifier. The referral-level Outcome is kept
unchanged (nothing is removed), so the migration loses nothing and reverses by deleting the
copies. A frozen copy of the rules: this file must not follow later changes.
"""

from django.db import migrations

IMPLIED = {
    "urgent_clinic": "clinic",
    "routine_clinic": "clinic",
    "biopsy": "biopsy",
    "surgery": "excision",
}
TISSUE = {"biopsy", "excision"}


def copy_outcomes_to_lesions(apps, schema_editor):
    Outcome = apps.get_model("referrals", "Outcome")
    Lesion = apps.get_model("referrals", "Lesion")
    LesionOutcome = apps.get_model("referrals", "LesionOutcome")
    done = set(LesionOutcome.objects.values_list("lesion_id", flat=True))
    for outcome in Outcome.objects.select_related("referral").iterator():
        management = IMPLIED.get(outcome.pathway_decision, "discharge")
        short = outcome.referral.reference.removeprefix("DB-")
        rows = []
        for lesion in Lesion.objects.filter(referral_id=outcome.referral_id).order_by("number"):
            if lesion.pk in done:
                continue
            rows.append(
                LesionOutcome(
                    lesion=lesion,
                    diagnosis_code=outcome.diagnosis_code,
                    differential=[],
                    management=management,
                    review_date=None,
                    biopsy_request_id=f"BX-{short}-{lesion.number}"
                    if management in TISSUE
                    else None,
                    from_referral_outcome=True,
                    recorded_by_id=outcome.recorded_by_id,
                    recorded_at=outcome.recorded_at,
                )
            )
        LesionOutcome.objects.bulk_create(rows)


def remove_copies(apps, schema_editor):
    apps.get_model("referrals", "LesionOutcome").objects.filter(from_referral_outcome=True).delete()


class Migration(migrations.Migration):
    dependencies = [("referrals", "0004_lesion_outcome")]

    operations = [migrations.RunPython(copy_outcomes_to_lesions, remove_copies)]
