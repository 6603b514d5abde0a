"""Measurement reports benchmark on PostgreSQL (database ``oscp_bench_measurements``, recreated each
run). Datum ingest is measured by ``bench/datum.py``.

Loads 1,000 groups of one asset each and one reading a minute per asset for 24 hours (1.44 M
readings, stored with ``readings_store``), then prints:

  (b) time to compute one 15-minute period for 1,000 groups: the aggregation query alone (all
      assets, one query) and the whole report path (one cursor per group: aggregate, build the
      message, write the outbox row, advance the cursor),
  (c) one plain SQL aggregate over the same rows (the floor),
  (d) the operating view's measured power: 24 hours in 15-minute periods for a one-charger group
      and for one site holding every charger; the combined-asset site Maximum of one period over
      every charger.

    .venv/bin/python bench/measurements.py [--groups 1000] [--hours 24]

``BENCH_DATABASE_URL`` overrides the database (its name is dropped and recreated).
"""

import argparse
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


def readings_load(user, groups: int, hours: int) -> int:
    from measurements.services import readings_store

    rng = random.Random(1)
    counters = [rng.uniform(0, 1e6) for _ in range(groups)]
    batch, total = [], 0
    for minute in range(hours * 60):
        ts = DAY + timedelta(minutes=minute)
        for n in range(groups):
            watts = rng.choice((0.0, rng.uniform(1000, 7400)))
            counters[n] += watts / 60
            batch.append(
                {
                    "node_id": 1,
                    "source_id": f"charger/{n}",
                    "ts": ts,
                    "instantaneous": {"watts": round(watts, 1)},
                    "accumulating": {"wattHours": round(counters[n], 3)},
                }
            )
            if len(batch) == PER_REQUEST:
                total += readings_store(owner=user, readings=batch)
                batch = []
    if batch:
        total += readings_store(owner=user, readings=batch)
    return total


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
    from measurements.aggregation import AssetSpec, window_measure
    from measurements.models import ReportCursor
    from measurements.services import report_cursor_advance

    user, _ = fixtures_load(args.groups)
    print(f"Loading {args.groups} assets x {args.hours * 60} minutes of readings ...", flush=True)
    stored = readings_load(user, args.groups, args.hours)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE measurements_reading")

    start = DAY + timedelta(hours=min(12, args.hours // 2))
    end = start + timedelta(minutes=15)
    specs = [AssetSpec.of(a) for a in Asset.objects.select_related("group")]
    aggregate_s, measures = timed(lambda: window_measure(assets=specs, start=start, end=end))

    ReportCursor.objects.bulk_create(
        ReportCursor(
            group_id=spec_group,
            audience="CapacityProvider",
            period="FifteenMinute",
            last_period_end=start,
            next_due_at=end,
        )
        for spec_group in Asset.objects.values_list("group_id", flat=True)
    )
    cursor_ids = list(ReportCursor.objects.values_list("id", flat=True))
    started = time.perf_counter()
    sent = sum(len(report_cursor_advance(cursor_id=cid, now=end + timedelta(minutes=1))) for cid in cursor_ids)
    report_s = time.perf_counter() - started

    floor_sql = """
        SELECT node_id, source_id, avg((instantaneous ->> 'watts')::float8),
               max((accumulating ->> 'wattHours')::float8) - min((accumulating ->> 'wattHours')::float8)
        FROM measurements_reading WHERE owner_id = %s AND ts >= %s AND ts < %s GROUP BY node_id, source_id
    """

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(floor_sql, [user.id, start, end])
            return cursor.fetchall()

    floor_s, floor_rows = timed(floor)

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
    print(f"Readings stored: {stored:,}")
    print(
        f"(b) one 15-minute period, {len(specs)} groups: aggregation query {aggregate_s * 1000:.0f} ms "
        f"({len(measures)} assets with values); full report path {report_s:.2f} s "
        f"({sent} outbox messages, {report_s / max(1, len(cursor_ids)) * 1000:.1f} ms per group)"
    )
    print(f"(c) plain SQL aggregate over the same rows: {floor_s * 1000:.0f} ms ({len(floor_rows)} streams)")
    print(
        f"(d) measured power for the chart, {args.hours} h: one charger {one_s * 1000:.0f} ms "
        f"({len(one_points)} points); a site of {len(everything)} chargers {site_s * 1000:.0f} ms "
        f"({len(site_points)} points); site Maximum of one period over {len(everything)} chargers "
        f"{maximum_s * 1000:.0f} ms ({maximum:,.0f} W)"
    )


if __name__ == "__main__":
    main()
