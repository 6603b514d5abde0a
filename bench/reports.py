"""Measurement reports at fleet scale, on PostgreSQL and Redis, next to a plain SQL aggregate.

Set-up (not timed): database ``oscp_bench_reports`` recreated and migrated, one Capacity
Provider (offline, so its outbox rows stay pending: delivery is not part of the figures), N groups
of one charger each (W Average, Wh counter), and one reading a minute per charger for the 24 hours
up to a few minutes from now, loaded with COPY.

1. ``15-min report round``: every group's provider cursor one 15-minute period behind. Ours is one
   round done as production does it, in this process: the dispatch service
   (``report_cursors_dispatch``: cursors ensured, due ones found) and, per batch of
   ``MEASUREMENT_REPORT_BATCH`` cursors, ``report_cursors_advance`` (claim, aggregate, build,
   outbox rows, cursors advanced, commit), publishing the outbox ids and the compliance checks
   to the real Redis broker. The floor is one plain SQL aggregate over the same rows: per
   stream, count/sum/avg/min/max of the power and the first and last counter value in the period
   (GROUP BY, ``array_agg`` ordered). Each round resets the cursors and deletes the outbox rows.
2. ``1-minute report round, one worker``: the groups switched to one-minute periods, each cursor
   one closed minute behind (real time). A real Celery worker (``celery -A oscp_platform worker
   --concurrency=1``, production settings) runs the round: the bench publishes
   ``measurements.reports_dispatch`` as beat does, and times from the publish until every
   group's outbox row is written. The floor is the plain aggregate over one minute.

Rounds alternate ours and the floor; medians are compared.

    .venv/bin/python bench/reports.py            # 1,000 groups, about 3 minutes
    .venv/bin/python bench/reports.py --quick    # 200 groups, fewer rounds, about a minute

Environment: PGURL (server, default postgres://postgres@127.0.0.1:5432), CELERY_BROKER_URL
(default: the value in .env, else redis://127.0.0.1:6379/15; the bench purges its queue).
"""

import argparse
import io
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT,
    alternate,
    database_recreate,
    limit_row,
    median,
    migrate,
    platform_env,
    ratio_row,
    rows_print,
)

DB_NAME = "oscp_bench_reports"
CELERY = ROOT / ".venv" / "bin" / "celery"
HOURS = 24
AHEAD = timedelta(minutes=10)  # readings this far past the load time, so real-time minutes have data
WORKER_ROUND_LIMIT_S = 15.0

FLOOR_SQL = """
SELECT node_id, source_id, count(*), sum(w), avg(w), min(w), max(w),
    (array_agg(wh ORDER BY ts))[1], (array_agg(wh ORDER BY ts DESC))[1]
FROM (
    SELECT node_id, source_id, ts, (instantaneous ->> 'watts')::float8 AS w,
        (accumulating ->> 'wattHours')::float8 AS wh
    FROM measurements_reading
    WHERE owner_id = %s AND ts >= %s AND ts <= %s
) r
GROUP BY node_id, source_id
"""


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 groups, 3 rounds each")
    parser.add_argument("--groups", type=int, help="default 1,000 (200 with --quick)")
    parser.add_argument("--rounds", type=int, help="rounds per figure, default 7 (3 with --quick)")
    parser.add_argument("--profile", action="store_true", help="print where one 15-minute round spends its time")
    args = parser.parse_args()
    args.groups = args.groups or (200 if args.quick else 1000)
    args.rounds = args.rounds or (3 if args.quick else 7)
    return args


def fixtures_load(groups: int):
    """The owner, the provider, N groups of one charger each and their provider cursors."""
    from django.contrib.auth import get_user_model

    from connections.models import Partner
    from groups.models import Asset, CapacityGroup

    owner = get_user_model().objects.create_user("bench-reports", password="bench-reports-pass-1234")
    provider = Partner.objects.create(
        owner=owner,
        role="CapacityProvider",
        name="CP",
        base_url="https://cp.invalid/2.0",
        connection_state="offline",
    )
    CapacityGroup.objects.bulk_create(
        CapacityGroup(owner=owner, name=f"Site {n}", identifier=f"site-{n}", capacity_provider=provider)
        for n in range(groups)
    )
    group_ids = list(CapacityGroup.objects.filter(owner=owner).order_by("id").values_list("id", flat=True))
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
    return owner


def readings_copy(database_url: str, owner_id: int, groups: int, first: datetime, minutes: int) -> int:
    """One reading a minute per charger from ``first``, written with COPY into the table without
    its indexes (rebuilt after, as they were: one sorted build each is far cheaper than a million
    inserts into them); returns how many."""
    import psycopg

    rng = random.Random(1)
    counters = [rng.uniform(0, 1e6) for _ in range(groups)]
    rows = 0
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        table = "measurements_reading"
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'u'",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
        indexes = cursor.fetchall()
        for name, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        columns = "owner_id, node_id, source_id, ts, instantaneous, accumulating"
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for minute in range(minutes):
                ts = (first + timedelta(minutes=minute)).isoformat()
                text = io.StringIO()
                for n in range(groups):
                    watts = rng.choice((0.0, rng.uniform(1000, 7400)))
                    counters[n] += watts / 60
                    text.write(
                        f'{owner_id}\t1\tcharger/{n}\t{ts}\t{{"watts": {watts:.1f}}}\t'
                        f'{{"wattHours": {counters[n]:.3f}}}\n'
                    )
                copy.write(text.getvalue())
                rows += groups
        conn.commit()  # the deferred foreign key checks run here, before the table is altered
        for name, definition in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            cursor.execute(definition)
        conn.commit()
        cursor.execute(f"ANALYZE {table}")
    return rows


def main() -> int:
    args = arguments()
    database_url = database_recreate(DB_NAME)
    env = platform_env(database_url)
    migrate(env)
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db import OperationalError, connection, transaction
    from django.utils import timezone

    from connections.models import Message
    from groups.models import CapacityGroup
    from measurements.models import ReportCursor
    from measurements.reports import align_down
    from measurements.services import report_cursors_advance, report_cursors_dispatch, report_cursors_ensure
    from oscp_platform.celery import app as celery_app

    started = time.monotonic()
    owner = fixtures_load(args.groups)
    load_end = align_down(timezone.now(), timedelta(minutes=1)) + AHEAD
    first = load_end - timedelta(hours=HOURS)
    stored = readings_copy(database_url, owner.id, args.groups, first, HOURS * 60 + 1)
    print(f"{args.groups:,} groups, {stored:,} readings loaded in {time.monotonic() - started:.0f} s", flush=True)
    celery_app.control.purge()

    def floor(start: datetime, end: datetime) -> float:
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL, [owner.id, start, end])
            found = cursor.fetchall()
        took = time.perf_counter() - began
        assert len(found) == args.groups, len(found)
        return took

    def reset(period: str, last_end: datetime, step: timedelta) -> None:
        for attempt in range(5):  # the worker may still run the last round's compliance checks
            try:
                with transaction.atomic():
                    Message.objects.all().delete()
                    ReportCursor.objects.update(
                        period=period,
                        last_period_end=last_end,
                        next_due_at=last_end + step,
                        last_outcome="",
                        last_message=None,
                    )
                return
            except OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.5)

    # 1. 15-minute periods, in this process.
    quarter = timedelta(minutes=15)
    q_start = align_down(load_end - timedelta(hours=6), quarter)
    q_end = q_start + quarter
    q_now = q_end + timedelta(seconds=settings.MEASUREMENT_REPORT_DELAY_SECONDS + 1)
    report_cursors_ensure(now=q_start)
    batch = settings.MEASUREMENT_REPORT_BATCH

    def round_15(profiler=None) -> float:
        reset("FifteenMinute", q_start, quarter)
        celery_app.control.purge()
        if profiler is not None:
            profiler.enable()
        began = time.perf_counter()
        due = report_cursors_dispatch(now=q_now)
        for offset in range(0, len(due), batch):
            report_cursors_advance(cursor_ids=due[offset : offset + batch], now=q_now)
        took = time.perf_counter() - began
        if profiler is not None:
            profiler.disable()
        written = Message.objects.count()
        assert written == args.groups, f"{written} outbox rows for {args.groups} groups"
        return took

    round_15()  # warm-up
    if args.profile:
        import cProfile
        import pstats

        statements = []

        def timed(execute, sql, params, many, context):
            began = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                statements.append((time.perf_counter() - began, " ".join(sql.split())[:100]))

        profiler = cProfile.Profile()
        with connection.execute_wrapper(timed):
            round_15(profiler)
        for seconds, text in sorted(statements, reverse=True)[:12]:
            print(f"{seconds * 1000:8.1f} ms  {text}")
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(30)
    floor(q_start, q_end)
    quarter_results = alternate(args.rounds, {"ours": round_15, "floor": lambda: floor(q_start, q_end)})

    # 2. One-minute periods, through a real worker.
    minute = timedelta(minutes=1)
    CapacityGroup.objects.update(capacity_provider_measurement_period="Minute")
    worker = subprocess.Popen(
        [str(CELERY), "-A", "oscp_platform", "worker", "--concurrency=1", "-l", "WARNING", "-n", "bench-reports@%h"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    minute_windows = []
    try:

        def round_1() -> float:
            now = timezone.now()
            last_end = align_down(now - timedelta(seconds=settings.MEASUREMENT_REPORT_DELAY_SECONDS), minute) - minute
            reset("Minute", last_end, minute)
            celery_app.control.purge()
            minute_windows.append((last_end, last_end + minute))
            began = time.perf_counter()
            celery_app.send_task("measurements.reports_dispatch")
            deadline = time.monotonic() + 60
            while ReportCursor.objects.filter(last_period_end__lte=last_end).exists():
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError("the worker did not report the round within 60 s")
                time.sleep(0.02)
            took = time.perf_counter() - began
            written = Message.objects.count()
            assert written >= args.groups, f"{written} outbox rows for {args.groups} groups"
            return took

        def floor_1() -> float:
            start = align_down(timezone.now() - timedelta(minutes=2), minute)
            return floor(start, start + minute)

        round_1()  # warm-up: the worker starts
        minute_results = alternate(args.rounds, {"ours": round_1, "floor": floor_1})
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        celery_app.control.purge()

    groups = f"{args.groups:,} groups"
    rows = [
        ratio_row(
            f"15-min report round, {groups}",
            median(quarter_results["ours"]) * 1000,
            median(quarter_results["floor"]) * 1000,
            unit="ms",
            goal=2,
            higher_is_better=False,
        ),
        limit_row(
            f"1-minute report round, {groups}, one worker",
            median(minute_results["ours"]) * 1000,
            unit="ms",
            limit=WORKER_ROUND_LIMIT_S * 1000,
            floor=median(minute_results["floor"]) * 1000,
        ),
    ]
    print(f"total {time.monotonic() - started:.0f} s; rounds: {args.rounds}", flush=True)
    rows_print(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
