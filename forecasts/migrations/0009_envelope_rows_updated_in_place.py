import django.db.models.deletion
from django.db import migrations, models

# Room on each page for the in-place update of its rows (HOT), and a vacuum after a few thousand
# changed rows rather than a fifth of the table: a forecast re-sent changes ~96 rows.
STORAGE = "fillfactor = 70, autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000"
STORAGE_RESET = "fillfactor, autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold"


def _storage_alter(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("forecasts", "0008_forecastblock_no_time_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="envelope",
            name="forecast",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="envelopes",
                to="forecasts.forecast",
            ),
        ),
        migrations.RunPython(
            _storage_alter(f"ALTER TABLE forecasts_envelope SET ({STORAGE})"),
            _storage_alter(f"ALTER TABLE forecasts_envelope RESET ({STORAGE_RESET})"),
        ),
    ]
