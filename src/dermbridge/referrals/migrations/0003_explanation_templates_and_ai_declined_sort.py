"""Two changes for the dermatologist's screen (issue #9, item 6):

1. ExplanationTemplate: a service's reusable patient explanations.
2. The worklist's AI sort key: a referral whose dermoscopic photo the AI declined to assess is
   now ai_band "declined" and sorts above every intermediate case (ADR 0002); before, it had
   ai_sort -1 and sorted below "low". Existing rows are recomputed from their assessments with
   a frozen copy of triage.services.referral_ai_state (this file must not follow later changes).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


ORDER = {"high": 4, "declined": 3, "intermediate": 2, "low": 1, "": 0}


def recompute_ai_sort(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    Assessment = apps.get_model("triage", "Assessment")
    per_referral: dict[int, dict] = {}
    rows = Assessment.objects.values_list(
        "image__lesion__referral_id", "abstained", "band", "malignant_probability"
    )
    for referral_id, abstained, band, probability in rows.iterator():
        entry = per_referral.setdefault(referral_id, {"bands": [], "risk": None})
        entry["bands"].append("declined" if abstained else band)
        if not abstained and probability is not None:
            entry["risk"] = max(probability, entry["risk"] or probability)
    for referral_id, entry in per_referral.items():
        state = max(entry["bands"], key=lambda b: ORDER.get(b, 0), default="")
        risk = entry["risk"]
        if state == "declined":
            sort = 3.5
        elif state == "" or risk is None:
            state, sort = "", -1.0
        else:
            sort = ORDER[state] + min(float(risk), 0.999999)
        Referral.objects.filter(pk=referral_id).update(ai_band=state, ai_sort=sort, ai_risk=risk)


def old_ai_sort(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    Referral.objects.filter(ai_band="declined").update(ai_band="", ai_sort=-1.0)
    for referral in Referral.objects.exclude(ai_risk=None).only("pk", "ai_risk").iterator():
        Referral.objects.filter(pk=referral.pk).update(ai_sort=referral.ai_risk)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('referrals', '0002_worklist_partial_index'),
        ('triage', '0002_agreement'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ExplanationTemplate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('title', models.CharField(max_length=80)),
                ('text', models.TextField(max_length=4000)),
                ('active', models.BooleanField(default=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('service', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='explanation_templates', to='accounts.organisation')),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['title', 'id'],
                'constraints': [models.UniqueConstraint(fields=('service', 'title'), name='one_explanation_title_per_service')],
            },
        ),
        migrations.RunPython(recompute_ai_sort, old_ai_sort),
    ]
