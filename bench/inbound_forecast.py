"""Benchmark: inbound update_group_capacity_forecast (96 blocks) against /health/.

Starts gunicorn with the production settings on a free port, on a fresh PostgreSQL database
``oscp_bench_inbound`` (migrated first), creates a Capacity Provider with a token and a group,
then drives each endpoint with a few client threads for a fixed time and prints requests/s,
p50 and p99 latency. Run from the repository root:

    .venv/bin/python bench/inbound_forecast.py [--seconds 10] [--threads 4] [--workers 3]

Environment: PGURL (server, default postgres://postgres@127.0.0.1:5432), CELERY_BROKER_URL
(default: the value in .env, else redis://127.0.0.1:6379/15), CONN_MAX_AGE (default: the
platform's, persistent connections).
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
DB_NAME = "oscp_bench_inbound"
FORECAST = "update_group_capacity_forecast (96 blocks)"

SETUP = """
from connections.services import inbound_token_issue
from groups.models import CapacityGroup
from tests.connections.factories import CapacityProviderFactory, UserFactory
owner = UserFactory()
cp = CapacityProviderFactory(owner=owner, connection_state="online", registration_status="Registered")
CapacityGroup.objects.create(owner=owner, name="Bench", identifier="bench-group", capacity_provider=cp)
print("TOKEN=" + inbound_token_issue(partner=cp))
"""


def dotenv_value(name: str) -> str | None:
    env_file = ROOT / ".env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            if line.startswith(name + "="):
                return line.split("=", 1)[1].strip()
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_recreate(server: str) -> str:
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return f"{server}/{DB_NAME}"


def forecast_body() -> dict:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    blocks = []
    for i in range(96):
        begin = start + timedelta(minutes=15 * i)
        blocks.append(
            {
                "capacity": 40 + i % 7,
                "phase": "ALL",
                "unit": "KW",
                "start_time": begin.isoformat().replace("+00:00", "Z"),
                "end_time": (begin + timedelta(minutes=15)).isoformat().replace("+00:00", "Z"),
            }
        )
    return {"group_id": "bench-group", "type": "CONSUMPTION", "forecasted_blocks": blocks}


def drive(name: str, send, *, seconds: float, threads: int) -> dict:
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker():
        session = requests.Session()
        mine, bad = [], []
        while time.monotonic() < stop_at:
            begin = time.perf_counter()
            status = send(session)
            mine.append(time.perf_counter() - begin)
            if status not in (200, 204):
                bad.append(status)
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    p99_index = max(0, int(len(latencies) * 0.99) - 1)
    return {
        "endpoint": name,
        "requests": len(latencies),
        "failures": len(failures),
        "failure_statuses": sorted(set(failures)),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[p99_index] * 1000, 1) if latencies else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    server = os.environ.get("PGURL", "postgres://postgres@127.0.0.1:5432")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "oscp_platform.settings.production",
        "ALLOW_INSECURE_SECRET_KEY": "1",
        "DATABASE_URL": database_recreate(server),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL")
        or dotenv_value("CELERY_BROKER_URL")
        or "redis://127.0.0.1:6379/15",
        **({"CONN_MAX_AGE": os.environ["CONN_MAX_AGE"]} if "CONN_MAX_AGE" in os.environ else {}),
        "LOG_LEVEL": "WARNING",
    }
    manage = [str(PYTHON), "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup = subprocess.run(
        [*manage, "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    token = next(line[6:] for line in setup.stdout.splitlines() if line.startswith("TOKEN="))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = subprocess.Popen(
        [str(GUNICORN), "oscp_platform.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if requests.get(base + "/health/", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            print("gunicorn did not become healthy", file=sys.stderr)
            return 1

        body = json.dumps(forecast_body())
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

        def post_forecast(session):
            request_headers = {**headers, "X-Request-ID": str(uuid.uuid4())}
            url = base + "/oscp/fp/2.0/update_group_capacity_forecast"
            return session.post(url, data=body, headers=request_headers, timeout=30).status_code

        def get_health(session):
            return session.get(base + "/health/", timeout=30).status_code

        results = [
            drive(FORECAST, post_forecast, seconds=args.seconds, threads=args.threads),
            drive("/health/", get_health, seconds=args.seconds, threads=args.threads),
        ]
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)

    print(f"gunicorn workers={args.workers}, client threads={args.threads}, {args.seconds:g} s per endpoint")
    print(f"{'endpoint':45} {'requests':>8} {'fail':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r['endpoint']:45} {r['requests']:>8} {r['failures']:>5} {r['rps']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8}"
        )
        if r["failures"]:
            print(f"  failure statuses: {r['failure_statuses']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
