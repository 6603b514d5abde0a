from django.db import migrations

from oscp_platform.db import lz4_compression


class Migration(migrations.Migration):
    dependencies = [("forecasts", "0012_last_forecast_index")]

    operations = [lz4_compression(("forecasts_forecast", "blocks"))]
