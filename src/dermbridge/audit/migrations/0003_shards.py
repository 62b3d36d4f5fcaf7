from django.core.management.color import no_style
from django.db import migrations, models


def reset_sequence(apps, schema_editor):
    """Events were inserted with explicit ids until now; from here the database numbers them."""
    event = apps.get_model("audit", "AuditEvent")
    connection = schema_editor.connection
    sql = connection.ops.sequence_reset_sql(no_style(), [event])
    with connection.cursor() as cursor:
        for statement in sql:
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_keyed_chain")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="shard",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="shard_seq",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunSQL(
            "UPDATE audit_auditevent SET shard_seq = seq", reverse_sql=migrations.RunSQL.noop
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="shard_seq",
            field=models.BigIntegerField(),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                fields=("shard", "shard_seq"), name="audit_shard_position"
            ),
        ),
        migrations.RunPython(reset_sequence, migrations.RunPython.noop),
    ]
