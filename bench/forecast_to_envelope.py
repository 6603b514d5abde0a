"""Time from a 96-block forecast (15 min each: a 24 h Vector-style forecast) to its envelope
being readable. Runs on PostgreSQL, in two parts:

1. In process: ``forecast_receive`` → the selector the API uses. Each run arrives 15 minutes after
   the last, so the schedule keeps the history a real group would have.
2. Over HTTP: a Capacity Provider POSTs ``update_group_capacity_forecast`` to gunicorn (the
   test-support web server: 1 worker, 4 threads), then an internal tool polls the envelopes API
   until the new limit is visible. Prints the POST latency and 204 → readable (from the 204 to
   the first GET showing the new limit), median and p99, and how many GETs that took.

    .venv/bin/python bench/forecast_to_envelope.py [--runs 300] [--http-runs 200]

Uses database ``oscp_bench_forecasts`` (created and migrated if missing) on the server of
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/oscp_bench_forecasts), and
CELERY_BROKER_URL from the environment or ``.env`` (only for the web server's health check).
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


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * len(ordered))) - 1)]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name}: runs={len(values)} median={statistics.median(values):.1f} ms "
        f"p99={p99(values):.1f} ms max={max(values):.1f} ms"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300, help="in-process runs (0 to skip)")
    parser.add_argument("--http-runs", type=int, default=200, help="runs over HTTP (0 to skip)")
    args = parser.parse_args()
    ensure_database()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.runs:
        in_process(args.runs)
    if args.http_runs:
        over_http(args.http_runs)


def fresh_user(username: str):
    """A bench user with nothing yet: what an earlier run left under this name is deleted."""
    from django.contrib.auth import get_user_model

    from groups.models import CapacityGroup
    from tests.connections.factories import UserFactory

    CapacityGroup.objects.filter(owner__username=username).delete()
    get_user_model().objects.filter(username=username).delete()  # with its partners and tokens
    return UserFactory(username=username)


def in_process(runs: int):
    from unittest import mock

    from django.db import transaction

    from forecasts.selectors import envelope_in_force
    from forecasts.services import forecast_receive
    from groups.models import CapacityGroup
    from tests.groups.factories import CapacityGroupFactory

    user = fresh_user("bench")
    group = CapacityGroupFactory(owner=user, capacity_provider__owner=user, microgrid_id="bench", node_id=1)
    start = datetime(2031, 1, 1, tzinfo=UTC)
    timings = []
    # Webhook/forward deliveries are queued on commit; the broker is not what is measured here.
    with mock.patch("connections.outbox.broker_publish"):
        for run in range(runs):
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
    print(summary("forecast_receive(96 blocks) -> envelope readable", timings))
    CapacityGroup.objects.filter(pk=group.pk).delete()


def wire(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def over_http(runs: int):
    import tempfile

    import requests
    from rest_framework.authtoken.models import Token

    from connections.services import inbound_token_issue
    from groups.models import CapacityGroup
    from tests.connections.factories import CapacityProviderFactory
    from tests.groups.factories import CapacityGroupFactory
    from tests.support.processes import start_web_server

    user = fresh_user("bench-http")
    provider = CapacityProviderFactory(owner=user, connection_state="online", registration_status="Registered")
    group = CapacityGroupFactory(
        owner=user, capacity_provider=provider, identifier="bench-http", microgrid_id="bench-http", node_id=2
    )
    partner_token, api_token = inbound_token_issue(partner=provider), Token.objects.create(user=user).key

    posts, readable, polls = [], [], []
    with tempfile.TemporaryDirectory() as logs:
        server = start_web_server(log_dir=Path(logs), env={"LOG_LEVEL": "WARNING"})
        try:
            cp, tool = requests.Session(), requests.Session()
            cp.headers["Authorization"] = f"Token {partner_token}"
            tool.headers["Authorization"] = f"Token {api_token}"
            forecast_url = server.url + "/oscp/fp/2.0/update_group_capacity_forecast"
            envelope_url = server.url + "/solaruser/api/v1/sec/user/oscp/envelopes"
            for run in range(runs):
                start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
                value = 100 + run  # the new limit in force now: differs from every earlier run
                blocks = [
                    {
                        "capacity": value if i == 0 else 10 + (run + i) % 7,
                        "phase": "ALL",
                        "unit": "KW",
                        "start_time": wire(start + timedelta(minutes=15 * i)),
                        "end_time": wire(start + timedelta(minutes=15 * (i + 1))),
                    }
                    for i in range(96)
                ]
                body = {"group_id": "bench-http", "type": "CONSUMPTION", "forecasted_blocks": blocks}
                began = time.perf_counter()
                response = cp.post(forecast_url, json=body, headers={"X-Request-ID": str(uuid.uuid4())}, timeout=30)
                answered = time.perf_counter()
                assert response.status_code == 204, response.text
                attempts = 0
                while True:
                    attempts += 1
                    data = tool.get(envelope_url, params={"groupId": group.id}, timeout=30).json()["data"]
                    if data["importLimits"][0]["value"] == value:
                        break
                    assert attempts < 1000, f"run {run}: limit {value} never became readable"
                seen = time.perf_counter()
                posts.append((answered - began) * 1000)
                readable.append((seen - answered) * 1000)
                polls.append(attempts)
        finally:
            server.stop()
    print(summary("HTTP POST update_group_capacity_forecast(96 blocks) -> 204", posts))
    print(summary("HTTP 204 -> new limit readable through the envelopes API", readable))
    print(f"GETs needed until readable: max={max(polls)} (1 = readable at the first read after the 204)")
    print(summary("HTTP POST start -> new limit readable", [a + b for a, b in zip(posts, readable, strict=True)]))
    CapacityGroup.objects.filter(pk=group.pk).delete()


if __name__ == "__main__":
    main()
