"""An unguessable web address for each photo: add the column, give every existing photo its
own key, then make it unique (a callable default on AddField would give all rows one value)."""

import secrets

from django.db import migrations, models

import dermbridge.imaging.models


def fill_keys(apps, schema_editor):
    LesionImage = apps.get_model("imaging", "LesionImage")
    for image in LesionImage.objects.filter(media_key="").only("pk").iterator():
        LesionImage.objects.filter(pk=image.pk).update(media_key=secrets.token_urlsafe(16))


class Migration(migrations.Migration):
    dependencies = [("imaging", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="lesionimage",
            name="media_key",
            field=models.CharField(max_length=32, default="", editable=False),
            preserve_default=False,
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="lesionimage",
            name="media_key",
            field=models.CharField(
                default=dermbridge.imaging.models.new_media_key,
                editable=False,
                max_length=32,
                unique=True,
            ),
        ),
    ]
