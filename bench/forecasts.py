"""Forecast intake: ``update_group_capacity_forecast`` with 96 blocks (a 24-hour forecast in
quarter hours, what Vector re-sends for every group every 15 minutes), against ``/health/``, and
how soon a burst of forecasts is readable through the envelope API.

Everything goes over real HTTP to one gunicorn with the production settings, on a fresh database
``oscp_bench_forecasts`` (``bench/common.py``). Requests carry ``X-Forwarded-Proto: https`` as the
TLS-terminating proxy in front of gunicorn would. gunicorn runs as ``deploy/`` runs it: sync
workers, ``WEB_CONCURRENCY`` of them (2 x cores + 1, 5 here), one request at a time each, so a
worker waiting on PostgreSQL leaves the cores to the others; the same server answers both
endpoints.

Each forecast goes to another of the bench's groups (a Capacity Provider's groups in turn), as
Vector spreads them: a group's forecasts serialize on its envelope lock, which is not what is
measured. Figures:

1. Saturating, alternating rounds (``/health/``, forecast, ``/health/``, ...): requests/s of each,
   median of the rounds. Goal: forecast >= 0.5 x ``/health/``.
2. Open loop at a fixed 100 requests/s (latency from when each request was due): p99 of each,
   median of the rounds. Goal: forecast p99 < 50 ms.
3. Burst: every group POSTs one new forecast, spread evenly over a minute (Vector's quarter
   hour); for each, a poller GETs the group's envelope in force from the management API from the
   moment its POST is due until the new limit shows. Goals: p99 of POST start -> readable < 1 s,
   the slowest < 60 s. Floor: ``/health/`` p99 at the same rate.

A server that cannot keep up with 100 forecasts/s would take minutes to work through the
backlog of a full run at that rate: the fixed-rate runs are then shortened so that the backlog
lasts about half a minute, ten seconds with ``--quick`` (the p99 is far above the goal either
way); the output says so.

    .venv/bin/python bench/forecasts.py [--quick]

``--quick`` takes about a minute (shorter runs, 200 groups in the burst); the full run about four.
Environment: PGURL (server), CELERY_BROKER_URL (default: ``.env``, else redis db 15).
"""

import argparse
import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import requests
from common import (
    Gunicorn,
    Row,
    alternate,
    database_recreate,
    fail,
    fixed_rate,
    limit_row,
    manage,
    median,
    migrate,
    percentile,
    platform_env,
    ratio_row,
    rows_print,
    saturate,
)

DB_NAME = "oscp_bench_forecasts"
FORECAST_PATH = "/oscp/fp/2.0/update_group_capacity_forecast"
ENVELOPE_PATH = "/solaruser/api/v1/sec/user/oscp/envelopes"
PROXY = {"X-Forwarded-Proto": "https"}  # TLS ends at the proxy in front of gunicorn
WORKERS, THREADS = 2 * (os.cpu_count() or 1) + 1, 1  # deploy/oscp.env's WEB_CONCURRENCY rule
BURST_SECONDS = 60.0
FIXED_RATE = 100  # requests/s offered in the open-loop runs
POLL_INTERVAL = 0.05

SETUP = """
import json
from rest_framework.authtoken.models import Token
from connections.services import inbound_token_issue
from groups.models import CapacityGroup
from tests.connections.factories import CapacityProviderFactory, UserFactory
owner = UserFactory(username="bench")
cp = CapacityProviderFactory(owner=owner, connection_state="online", registration_status="Registered")
CapacityGroup.objects.bulk_create(
    CapacityGroup(owner=owner, name=f"Site {{n}}", identifier=f"site-{{n}}", capacity_provider=cp)
    for n in range({count})
)
ids = dict(CapacityGroup.objects.filter(owner=owner).values_list("identifier", "id"))
print("SETUP=" + json.dumps({{
    "partner_token": inbound_token_issue(partner=cp),
    "api_token": Token.objects.create(user=owner).key,
    "groups": [[f"site-{{n}}", ids[f"site-{{n}}"]] for n in range({count})],
}}))
"""


def wire(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def forecast_body(identifier: str, *, first: float, start: datetime) -> bytes:
    """96 quarter-hour blocks from ``start``; the first (in force now) carries ``first`` kW."""
    blocks = [
        {
            "capacity": first if i == 0 else 40 + i % 7,
            "phase": "ALL",
            "unit": "KW",
            "start_time": wire(start + timedelta(minutes=15 * i)),
            "end_time": wire(start + timedelta(minutes=15 * (i + 1))),
        }
        for i in range(96)
    ]
    return json.dumps({"group_id": identifier, "type": "CONSUMPTION", "forecasted_blocks": blocks}).encode()


def quarter_hour(now: datetime) -> datetime:
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


class Platform:
    """The requests the bench sends, each on the caller's session."""

    def __init__(self, base: str, setup: dict):
        self.base = base
        self.groups = setup["groups"]
        self.forecast_headers = {
            **PROXY,
            "Authorization": f"Token {setup['partner_token']}",
            "Content-Type": "application/json",
        }
        self.api_headers = {**PROXY, "Authorization": f"Token {setup['api_token']}"}
        self.start = quarter_hour(datetime.now(UTC))
        # One body per group, made before the clock runs (the client's work is not measured).
        self.bodies = [forecast_body(identifier, first=45, start=self.start) for identifier, _ in self.groups]
        self.turn = 0
        self.lock = threading.Lock()

    def health(self, session: requests.Session) -> int:
        return session.get(self.base + "/health/", timeout=60).status_code

    def forecast(self, session: requests.Session, body: bytes | None = None) -> int:
        if body is None:
            with self.lock:
                body = self.bodies[self.turn % len(self.bodies)]
                self.turn += 1
        headers = {**self.forecast_headers, "X-Request-ID": str(uuid.uuid4())}
        return session.post(self.base + FORECAST_PATH, data=body, headers=headers, timeout=60).status_code

    def limit_now(self, session: requests.Session, group_id: int) -> float | None:
        response = session.get(
            self.base + ENVELOPE_PATH, params={"groupId": group_id}, headers=self.api_headers, timeout=60
        )
        if response.status_code != 200:
            return None
        return response.json()["data"]["importLimits"][0]["value"]


def session_new() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def checked(load, what: str):
    if load.failures:
        fail(f"{what}: {load.failures} of {load.sent} requests failed (statuses {load.statuses})")
    return load


def burst(platform: Platform, *, seconds: float) -> tuple[list[float], int]:
    """Every group POSTs a forecast with a new limit in force now, evenly over ``seconds``; a
    poller per group GETs its envelope from the POST's start until the limit shows. Returns the
    seconds from POST start to readable, per group, and how many GETs that took in all."""
    groups = platform.groups
    rate = len(groups) / seconds
    readable: list[float] = [0.0] * len(groups)
    gets = [0] * len(groups)
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = session_new()
        return local.session

    def poll(index: int, started: float, expected: float) -> None:
        group_id = groups[index][1]
        while True:
            gets[index] += 1
            if platform.limit_now(session(), group_id) == expected:
                readable[index] = time.perf_counter() - started
                return
            if time.perf_counter() - started > 5 * seconds:
                fail(f"group {groups[index][0]}: limit {expected} never became readable")
            time.sleep(POLL_INTERVAL)

    def post(index: int, due: float, pollers: ThreadPoolExecutor, polls: list) -> None:
        identifier = groups[index][0]
        expected = 5000.0 + index  # a limit no other forecast of the bench sets
        body = forecast_body(identifier, first=expected, start=datetime.now(UTC) - timedelta(seconds=1))
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        # Counted from when the POST was due: a server that falls behind shows as the wait it causes.
        polls.append(pollers.submit(poll, index, due, expected))
        status = platform.forecast(session(), body)
        if status != 204:
            fail(f"group {identifier}: forecast answered {status}")

    begin = time.perf_counter() + 0.5
    polls: list = []
    # Enough posting threads that every POST leaves on time even when answers are slow.
    with ThreadPoolExecutor(64) as pollers:
        with ThreadPoolExecutor(128) as posters:
            posts = [posters.submit(post, i, begin + i / rate, pollers, polls) for i in range(len(groups))]
            for future in posts:
                future.result()
        for future in polls:
            future.result()
    return readable, sum(gets)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: shorter runs, 200 groups")
    args = parser.parse_args()
    args.groups = 200 if args.quick else 1000
    args.rounds = 2 if args.quick else 3
    args.seconds = 4.0 if args.quick else 8.0  # per saturating run
    args.fixed_seconds = 4.0 if args.quick else 10.0  # per run at 100 requests/s
    args.burst_seconds = BURST_SECONDS * args.groups / 1000  # Vector's rate: 1,000 groups a minute
    args.backlog = 10.0 if args.quick else 30.0  # longest backlog a fixed-rate run may leave, in seconds
    args.threads = 8  # saturating clients
    return args


def main() -> int:
    args = arguments()
    env = platform_env(database_recreate(DB_NAME))
    migrate(env)
    output = manage(env, "shell", "-c", SETUP.format(count=args.groups))
    setup = json.loads(next(line[6:] for line in output.splitlines() if line.startswith("SETUP=")))

    rows: list[Row] = []
    with Gunicorn(env, workers=WORKERS, threads=THREADS) as base:
        platform = Platform(base, setup)
        warm = session_new()
        for _ in range(len(platform.groups)):  # every group has an envelope, as in steady state
            if platform.forecast(warm) != 204:
                fail("warm-up forecast failed")

        rates = alternate(
            args.rounds,
            {
                "health": lambda: (
                    checked(saturate(platform.health, seconds=args.seconds, threads=args.threads), "/health/").rate
                ),
                "forecast": lambda: (
                    checked(saturate(platform.forecast, seconds=args.seconds, threads=args.threads), "forecast").rate
                ),
            },
        )
        rows.append(
            ratio_row(
                "forecast intake (96 blocks)",
                median(rates["forecast"]),
                median(rates["health"]),
                unit="req/s",
                goal=0.5,
                higher_is_better=True,
            )
        )

        capacity = median(rates["forecast"])
        fixed_seconds = min(args.fixed_seconds, max(1.0, args.backlog * capacity / FIXED_RATE))
        if fixed_seconds < args.fixed_seconds:
            print(f"intake saturates at {capacity:.0f} req/s: {FIXED_RATE} req/s offered for {fixed_seconds:.1f} s")
        p99s = alternate(
            args.rounds,
            {
                "health": lambda: percentile(
                    checked(fixed_rate(platform.health, rate=FIXED_RATE, seconds=fixed_seconds), "/health/").latencies,
                    0.99,
                ),
                "forecast": lambda: percentile(
                    checked(
                        fixed_rate(platform.forecast, rate=FIXED_RATE, seconds=fixed_seconds), "forecast"
                    ).latencies,
                    0.99,
                ),
            },
        )
        rows.append(
            limit_row(
                "forecast p99 at 100 req/s",
                median(p99s["forecast"]) * 1000,
                unit="ms",
                limit=50,
                floor=median(p99s["health"]) * 1000,
            )
        )

        rate = args.groups / args.burst_seconds
        floor = checked(fixed_rate(platform.health, rate=rate, seconds=min(args.burst_seconds, 20)), "/health/")
        floor_p99 = percentile(floor.latencies, 0.99)
        readable, gets = burst(platform, seconds=args.burst_seconds)

    name = f"{args.groups:,}-group burst"
    rows.append(
        limit_row(f"{name}: POST-start → readable p99", percentile(readable, 0.99), unit="s", limit=1, floor=floor_p99)
    )
    rows.append(limit_row(f"{name}: slowest POST → readable", max(readable), unit="s", limit=60, floor=floor_p99))
    print(
        f"gunicorn {WORKERS} workers x {THREADS} threads; saturating: {args.threads} clients, {args.rounds} rounds "
        f"of {args.seconds:g} s; burst: {args.groups} groups over {args.burst_seconds:g} s, {gets} envelope GETs",
        flush=True,
    )
    rows_print(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
