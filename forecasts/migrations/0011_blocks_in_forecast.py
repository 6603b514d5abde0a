"""A forecast's blocks move from one row each (``forecasts_forecastblock``) into the forecast, as
one JSON document, with ``starts_at`` and ``ends_at`` bounding them."""

import django.db.models.deletion
from django.db import migrations, models

# On PostgreSQL in one statement; the text forms are those ``forecasts.models.blocks_stored`` writes.
_COPY_SQL = """
UPDATE forecasts_forecast AS f
SET blocks = b.doc, starts_at = b.first_start, ends_at = b.last_end
FROM (
    SELECT forecast_id,
           jsonb_agg(jsonb_build_object(
               'capacity', capacity::text, 'phase', phase, 'unit', unit,
               'start_time', to_char(start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00',
               'end_time', to_char(end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'
           ) ORDER BY start_time, phase) AS doc,
           min(start_time) AS first_start,
           max(end_time) AS last_end
    FROM forecasts_forecastblock
    GROUP BY forecast_id
) AS b
WHERE b.forecast_id = f.id
"""


def blocks_copy(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_COPY_SQL)
        return
    Forecast = apps.get_model("forecasts", "Forecast")
    ForecastBlock = apps.get_model("forecasts", "ForecastBlock")
    by_forecast: dict[int, list] = {}
    for block in ForecastBlock.objects.order_by("forecast_id", "start_time", "phase").iterator():
        by_forecast.setdefault(block.forecast_id, []).append(block)
    for forecast_id, blocks in by_forecast.items():
        Forecast.objects.filter(id=forecast_id).update(
            blocks=[
                {
                    "capacity": str(b.capacity),
                    "phase": b.phase,
                    "unit": b.unit,
                    "start_time": b.start_time.isoformat(),
                    "end_time": b.end_time.isoformat(),
                }
                for b in blocks
            ],
            starts_at=min(b.start_time for b in blocks),
            ends_at=max(b.end_time for b in blocks),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("forecasts", "0010_sources_without_constraint"),
    ]

    operations = [
        # The old rows' accessor gives its name up to the new field first.
        migrations.AlterField(
            model_name="forecastblock",
            name="forecast",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="forecasts.forecast",
            ),
        ),
        migrations.AddField(
            model_name="forecast",
            name="blocks",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
        migrations.AddField(
            model_name="forecast",
            name="starts_at",
            field=models.DateTimeField(blank=True, help_text="When its first block starts.", null=True),
        ),
        migrations.AddField(
            model_name="forecast",
            name="ends_at",
            field=models.DateTimeField(blank=True, help_text="When its last block ends.", null=True),
        ),
        migrations.RunPython(blocks_copy, migrations.RunPython.noop),
        migrations.DeleteModel(name="ForecastBlock"),
        migrations.AddIndex(
            model_name="forecast",
            index=models.Index(fields=["group", "type", "ends_at"], name="forecast_reach"),
        ),
    ]
