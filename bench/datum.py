"""Datum ingest over real HTTP next to PostgreSQL's own COPY of the same rows.

A fresh database ``oscp_bench_datum`` (migrated), the platform under gunicorn with the production
settings (three sync workers, as ``deploy/`` runs it on a small machine), one account with an API
token. The readings are one a minute from 1,000 chargers (node 1, ``charger/<n>``, a power and an
energy value each), cut into requests of 10,000 readings, serialised before any clock starts.

Each round starts from an empty readings table (``TRUNCATE``) and stores the same readings:

* ours: ``POST /solaruser/api/v1/sec/user/oscp/datum`` from ``--threads`` client threads, each
  taking the next request body until none is left (JSON parsing, validation, authentication and
  the upsert, as a client sees them);
* the floor: PostgreSQL ``COPY`` of the same rows (owner, node, source, time, both jsonb values)
  into the same table, from as many connections as there are client threads, one 10,000-row
  ``COPY`` per transaction, the COPY text prepared before the clock starts. Nothing can store
  these rows faster through PostgreSQL.

Rounds alternate (floor, ours, floor, ours, ...) because the machine is shared and noisy; the
medians are compared. Run from the repository root (PostgreSQL at ``PGURL``, default
postgres://postgres@127.0.0.1:5432):

    .venv/bin/python bench/datum.py [--requests 20] [--rounds 5] [--threads 3] [--quick]
"""

import argparse
import json
import random
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Gunicorn,
    alternate,
    database_recreate,
    fail,
    manage,
    median,
    migrate,
    platform_env,
    ratio_row,
    rows_print,
)

DB_NAME = "oscp_bench_datum"
PER_REQUEST = 10_000
CHARGERS = 1_000
DAY = datetime(2026, 11, 20, tzinfo=UTC)
GOAL = 0.5
DATUM_PATH = "/solaruser/api/v1/sec/user/oscp/datum"

SETUP = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create_user("bench-datum", password="bench-datum-pass-1234")
print("OWNER=%s TOKEN=%s" % (user.pk, Token.objects.create(user=user).key))
"""


def readings_make(requests_count: int) -> list[list[dict]]:
    """``requests_count`` requests of PER_REQUEST readings, one a minute per charger."""
    rng = random.Random(1)
    counters = [rng.uniform(0, 1e6) for _ in range(CHARGERS)]
    batches, batch = [], []
    minute = 0
    while len(batches) < requests_count:
        created = (DAY + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:%SZ")
        for n in range(CHARGERS):
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
                batches.append(batch)
                batch = []
        minute += 1
    return batches


def copy_text(owner_id: int, batch: list[dict]) -> bytes:
    """The COPY text of a batch, as the readings table stores it."""
    lines = []
    for r in batch:
        ts = datetime.strptime(r["created"], "%Y-%m-%d %H:%M:%S%z").isoformat()
        i, a = json.dumps(r["i"]), json.dumps(r["a"])
        lines.append(f"{owner_id}\t{r['nodeId']}\t{r['sourceId']}\t{ts}\t{i}\t{a}\n")
    return "".join(lines).encode()


def in_threads(work: list, threads: int, handle) -> float:
    """``handle(item, state)`` for every item, ``threads`` threads taking the next one; seconds."""
    queue = iter(work)
    lock = threading.Lock()
    errors: list[str] = []

    def run():
        state = {}
        try:
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                handle(item, state)
        except Exception as exc:  # noqa: BLE001 - reported after the round
            errors.append(repr(exc))
        finally:
            for closable in state.values():
                closable.close()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        fail(f"a round failed: {errors[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, help="requests of 10,000 readings a round (default 20, 10 quick)")
    parser.add_argument("--rounds", type=int, help="rounds of each (default 5, 3 quick)")
    parser.add_argument("--threads", type=int, default=3, help="client threads, and COPY connections")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--quick", action="store_true", help="fewer and smaller rounds (about 30 s)")
    args = parser.parse_args()
    args.requests = args.requests or (10 if args.quick else 20)
    args.rounds = args.rounds or (3 if args.quick else 5)

    url = database_recreate(DB_NAME)
    env = platform_env(url)
    migrate(env)
    fields = dict(part.split("=", 1) for part in manage(env, "shell", "-c", SETUP).split() if "=" in part)
    owner_id, token = int(fields["OWNER"]), fields["TOKEN"]

    batches = readings_make(args.requests)
    bodies = [json.dumps(batch).encode() for batch in batches]
    copies = [copy_text(owner_id, batch) for batch in batches]
    total = len(batches) * PER_REQUEST
    headers = {
        "Authorization": f"Token {token}",
        "Content-Type": "application/json",
        "X-Forwarded-Proto": "https",  # as the TLS proxy in front of gunicorn sets it
    }

    admin = psycopg.connect(url, autocommit=True)

    def truncate():
        admin.execute("TRUNCATE measurements_reading")

    def stored() -> int:
        return admin.execute("SELECT count(*) FROM measurements_reading").fetchone()[0]

    with Gunicorn(env, workers=args.workers) as base:

        def post(body: bytes, state: dict) -> None:
            if "session" not in state:
                state["session"] = requests.Session()
                state["session"].trust_env = False
            response = state["session"].post(base + DATUM_PATH, data=body, headers=headers, timeout=120)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code} {response.text[:300]}")

        def copy(data: bytes, state: dict) -> None:
            if "conn" not in state:
                state["conn"] = psycopg.connect(url)
            with state["conn"].transaction(), state["conn"].cursor() as cursor:
                columns = "owner_id, node_id, source_id, ts, instantaneous, accumulating"
                with cursor.copy(f"COPY measurements_reading ({columns}) FROM STDIN") as writer:
                    writer.write(data)

        def round_of(handle, work) -> float:
            truncate()
            seconds = in_threads(work, args.threads, handle)
            expected = len(work) * PER_REQUEST
            if stored() != expected:
                fail(f"{stored()} readings stored, {expected} expected")
            return expected / seconds

        round_of(post, bodies[: args.workers])  # warm-up: every worker has imported and connected
        contenders = {"copy": lambda: round_of(copy, copies), "http": lambda: round_of(post, bodies)}
        results = alternate(args.rounds, contenders)
    admin.close()

    for name, rates in results.items():
        print(f"{name}: " + ", ".join(f"{rate:,.0f}" for rate in rates) + " readings/s", flush=True)
    print(
        f"{args.rounds} rounds of {total:,} readings ({args.requests} requests of {PER_REQUEST:,}), "
        f"{args.threads} client threads, {args.workers} gunicorn workers",
        flush=True,
    )
    rows_print(
        [
            ratio_row(
                f"datum ingest over HTTP, {PER_REQUEST:,} readings a request",
                median(results["http"]),
                median(results["copy"]),
                unit="readings/s",
                goal=GOAL,
                higher_is_better=True,
            )
        ]
    )


if __name__ == "__main__":
    main()
