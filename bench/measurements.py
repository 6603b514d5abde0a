"""Measurements benchmark on PostgreSQL (database ``oscp_bench_measurements``, recreated each run).

Loads 1,000 groups of one asset each and one reading a minute per asset for 24 hours (1.44 M
readings), then prints:

  (a) ingest rate through the datum API (requests of 10,000 readings, Django test client:
      JSON parsing, validation, upsert — no network),
  (d) the operating view's measured power: 24 hours in 15-minute periods for a one-charger group
      and for one site holding every charger; the combined-asset site Maximum of one period over
      every charger.

Report rounds (aggregation, outbox rows, cursors) are measured by ``bench/reports.py``.

    .venv/bin/python bench/measurements.py [--groups 1000] [--hours 24]

``BENCH_DATABASE_URL`` overrides the database (its name is dropped and recreated).
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/oscp_bench_measurements")
DAY = datetime(2026, 11, 20, tzinfo=UTC)
PER_REQUEST = 10_000


def database_recreate(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscp_platform.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Outbox rows are written; nothing is handed to a broker.
    from connections import outbox

    outbox.broker_publish = lambda *args, **kwargs: None


def fixtures_load(groups: int):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from connections.models import Partner
    from groups.models import Asset, CapacityGroup

    user = get_user_model().objects.create_user("bench", password="bench-pass-1234")
    token = Token.objects.create(user=user)
    partner = Partner.objects.create(owner=user, role="CapacityProvider", name="CP", base_url="https://cp.example/2.0")
    CapacityGroup.objects.bulk_create(
        CapacityGroup(owner=user, name=f"Site {n}", identifier=f"site-{n}", capacity_provider=partner)
        for n in range(groups)
    )
    group_ids = list(CapacityGroup.objects.order_by("id").values_list("id", flat=True))
    Asset.objects.bulk_create(
        Asset(
            group_id=group_id,
            name=f"Charger {n}",
            identifier=f"charger-{n}",
            audience="CapacityProvider",
            node_id=1,
            source_id=f"charger/{n}",
            category="Charging",
            instantaneous={"propertyNames": ["watts"], "unit": "W", "statisticType": "Average"},
            energy={
                "propertyNames": ["wattHours"],
                "unit": "Wh",
                "statisticType": "Difference",
                "type": "Total",
                "direction": "Import",
            },
        )
        for n, group_id in enumerate(group_ids)
    )
    return user, token.key


def readings_ingest(token: str, groups: int, hours: int) -> tuple[int, float, list[float]]:
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    rng = random.Random(1)
    counters = [rng.uniform(0, 1e6) for _ in range(groups)]
    batch, total, elapsed, per_request = [], 0, 0.0, []

    def flush():
        nonlocal batch, total, elapsed
        body = json.dumps(batch)
        started = time.perf_counter()
        response = client.post("/solaruser/api/v1/sec/user/oscp/datum", body, content_type="application/json")
        took = time.perf_counter() - started
        assert response.status_code == 200, response.content[:300]
        total += response.json()["data"]["stored"]
        elapsed += took
        per_request.append(took)
        batch = []

    for minute in range(hours * 60):
        created = (DAY + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:%SZ")
        for n in range(groups):
            watts = rng.choice((0.0, rng.uniform(1000, 7400)))
            counters[n] += watts / 60
            batch.append(
                {
                    "nodeId": 1,
                    "sourceId": f"charger/{n}",
                    "created": created,
                    "i": {"watts": round(watts, 1)},
                    "a": {"wattHours": round(counters[n], 3)},
                }
            )
            if len(batch) == PER_REQUEST:
                flush()
    if batch:
        flush()
    return total, elapsed, per_request


def timed(fn, runs=3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=24)
    args = parser.parse_args()

    database_recreate(BENCH_URL)
    django_setup(BENCH_URL)
    from django.db import connection

    from groups.models import Asset

    user, token = fixtures_load(args.groups)
    print(f"Loading {args.groups} assets x {args.hours * 60} minutes through the datum API ...", flush=True)
    stored, elapsed, per_request = readings_ingest(token, args.groups, args.hours)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE measurements_reading")

    start = DAY + timedelta(hours=min(12, args.hours // 2))
    end = start + timedelta(minutes=15)

    from groups.models import CapacityGroup
    from measurements.power import site_statistic
    from measurements.selectors import group_power_series

    day_end = DAY + timedelta(hours=args.hours)
    one = CapacityGroup.objects.order_by("id").first()
    one_s, one_points = timed(lambda: group_power_series(group=one, start=DAY, end=day_end))
    Asset.objects.update(group=one)  # one site with every charger
    site_s, site_points = timed(lambda: group_power_series(group=one, start=DAY, end=day_end))
    everything = [(a, 1.0) for a in Asset.objects.select_related("group")]
    maximum_s, maximum = timed(lambda: site_statistic(assets=everything, statistic="Maximum", start=start, end=end))

    print()
    print(f"Readings stored: {stored:,} in {len(per_request)} requests of up to {PER_REQUEST:,}")
    print(
        f"(a) ingest through the API: {stored / elapsed:,.0f} readings/s "
        f"({elapsed:.1f} s; per request median {statistics.median(per_request):.3f} s, "
        f"max {max(per_request):.3f} s)"
    )
    print(
        f"(d) measured power for the chart, {args.hours} h: one charger {one_s * 1000:.0f} ms "
        f"({len(one_points)} points); a site of {len(everything)} chargers {site_s * 1000:.0f} ms "
        f"({len(site_points)} points); site Maximum of one period over {len(everything)} chargers "
        f"{maximum_s * 1000:.0f} ms ({maximum:,.0f} W)"
    )


if __name__ == "__main__":
    main()
