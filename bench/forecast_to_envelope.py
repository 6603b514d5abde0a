"""Time from ``forecast_receive`` (96 blocks, 15 min each: a 24 h Vector-style forecast) to the
envelope being readable through the selector the API uses. Runs on PostgreSQL.

    .venv/bin/python bench/forecast_to_envelope.py [--runs 300]

Uses database ``oscp_bench_forecasts`` (created and migrated if missing) on the server of
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/oscp_bench_forecasts). Each run
arrives 15 minutes after the last, so the schedule keeps the history a real group would have.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/oscp_bench_forecasts")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DATABASE_URL"] = URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscp_platform.settings.test")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "0")


def ensure_database():
    import psycopg

    server, name = URL.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    ensure_database()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", verbosity=0)

    from unittest import mock

    from forecasts.selectors import envelope_in_force
    from forecasts.services import forecast_receive
    from groups.models import CapacityGroup
    from tests.groups.factories import CapacityGroupFactory

    CapacityGroup.objects.filter(microgrid_id="bench").delete()
    group = CapacityGroupFactory(microgrid_id="bench", node_id=1)
    start = datetime(2031, 1, 1, tzinfo=UTC)
    timings = []
    # Webhook/forward deliveries are queued on commit; the broker is not what is measured here.
    with mock.patch("connections.tasks.message_send.delay"):
        for run in range(args.runs):
            now = start + timedelta(minutes=15 * run)
            blocks = [
                {
                    "capacity": Decimal(10 + (run + i) % 7),
                    "phase": "ALL",
                    "unit": "KW",
                    "start_time": now + timedelta(minutes=15 * i),
                    "end_time": now + timedelta(minutes=15 * (i + 1)),
                }
                for i in range(96)
            ]
            expected = float(blocks[0]["capacity"])
            with mock.patch("django.utils.timezone.now", return_value=now + timedelta(seconds=1)):
                began = time.perf_counter()
                with transaction.atomic():
                    forecast_receive(
                        group=group,
                        sender=group.capacity_provider,
                        forecast_type="CONSUMPTION",
                        blocks=blocks,
                        request_id=str(uuid.uuid4()),
                        received_at=now,
                    )
                envelope = envelope_in_force(
                    group=CapacityGroup.objects.get(pk=group.pk), at=now + timedelta(seconds=1)
                )
                elapsed = time.perf_counter() - began
            assert envelope["importLimits"][0]["value"] == expected, envelope
            timings.append(elapsed * 1000)
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(round(0.99 * len(timings))) - 1)]
    print(
        f"forecast_receive(96 blocks) -> envelope readable: runs={len(timings)} "
        f"median={statistics.median(timings):.1f} ms p99={p99:.1f} ms max={timings[-1]:.1f} ms"
    )
    CapacityGroup.objects.filter(pk=group.pk).delete()


if __name__ == "__main__":
    main()
