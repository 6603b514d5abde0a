from django.db import migrations

from oscp_platform.db import lz4_compression


class Migration(migrations.Migration):
    dependencies = [("connections", "0012_message_indexes_for_inbound")]

    operations = [lz4_compression(("connections_message", "body"))]
