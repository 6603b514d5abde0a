"""Heartbeats at fleet scale: N Capacity Providers, each asking for a heartbeat every interval.

Everything runs as real processes talking real HTTP on loopback, on PostgreSQL and Redis: by
default a fresh database ``oscp_bench_heartbeats`` (recreated each run, server ``PGURL``) and
``CELERY_BROKER_URL`` (else the value in ``.env``, else redis://127.0.0.1:6379/15). Given an
existing database (``--database-url``), the bench deletes what its earlier runs left there (the
partners of user ``bench-heartbeats``, their messages and history). Give it a Redis db of its own
(``--broker-url``): it purges the Celery queue.

Set-up: ``migrate`` and ``sync_periodic_tasks`` (as ``make run``), a loopback HTTP sink
(``bench/sink.py``) standing in for every partner, then one Celery worker and Celery beat started
with the command lines ``make run`` uses (``run_platform.platform_commands``). N Capacity Providers
are created in bulk (``partners_create``): online, registered, ``heartbeatSeconds`` = interval,
base URL ``http://127.0.0.1:<sink>/p/<i>``, heartbeat phases spread evenly over one interval
(partner i first due at t0 + i * interval / N), as if they came online at different times.

1. Steady state, after a warm-up, over ``--duration`` seconds: heartbeats received by the sink per
   second next to the N / interval needed; the lag of every heartbeat due in the window (arrival
   minus due time; partner i's k-th heartbeat is due at its first due time + k * interval, its
   arrivals counted in order, a retry with the same X-Request-ID once); p50/p99/max (``≥``: a
   lower bound, heartbeats not arrived TAIL_SECONDS after the window count as that late); the
   share on time (within ON_TIME_SECONDS of due); partners silent for more than two intervals;
   heartbeat messages dead (and unsent past their deadline, which die when next claimed).
2. Outbox delivery capacity: beat stopped and the queue drained, M messages are enqueued at once
   through ``connections.services.outbox_enqueue`` (type heartbeat, one transaction, published on
   commit); delivered/s = M / (time from the commit to the sink's last arrival). The floor is
   plain ``requests.post`` of the same body to the same sink, as many threads as the worker has
   processes, no Session. Rounds alternate (floor, outbox, floor, outbox, ...) because the machine
   is noisy; the medians are compared.

Before the steady state the sink's own capacity is checked (a new connection per request, more
client threads than the floor): it must stay far above both rates or the figures measure the sink.

    .venv/bin/python bench/heartbeats.py [--partners 10000] [--interval 60] [--duration 120]
    .venv/bin/python bench/heartbeats.py --quick      # 2,000 partners, 60 s window, about 2 minutes

The default run (10,000 partners, a 30 s warm-up, a 2-minute window, bursts of 3,000) takes about
four minutes; ``--duration 300 --warmup 60 --burst 5000`` is the longer run.

Settings are ``oscp_platform.settings.local`` (as ``make run``) with DEBUG on: Django keeps at most
9,000 queries per connection, so the long-running worker and beat do not grow and the figures stay
meaningful (set DEBUG=0 in the environment to compare). Prints its rows with ``rows_print`` (the
table and a ``BENCH_ROWS`` line for ``bench/run_all.py``); exits 0 whether or not the goals hold,
non-zero on errors. The bench partners are left in the database for inspection.
"""

import argparse
import http.client
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import Row, database_recreate, dotenv_value, ratio_row, rows_print  # noqa: E402

ON_TIME_SECONDS = 2.0  # a heartbeat arriving within this of its due time is on time
LAG_P99_GOAL_SECONDS = 5.0
ON_TIME_GOAL_PERCENT = 99.0
RATE_GOAL = 0.99  # heartbeats received / needed (window edges make exact 1.0 noisy)
OUTBOX_RATIO_GOAL = 0.5  # outbox delivery / plain HTTP floor
TAIL_SECONDS = 2 * LAG_P99_GOAL_SECONDS  # after the window: time for heartbeats due at its end
SILENT_INTERVALS = 2
BURST_TIMEOUT_SECONDS = 900.0
SINK_CHECK_SECONDS, SINK_CHECK_THREADS = 2.0, 4
BENCH_USER = "bench-heartbeats"
SETTINGS = "oscp_platform.settings.local"
HEARTBEAT_PATH = re.compile(r"^/p/(\d+)/heartbeat$")
CLIENT_PREFIXES = ("floor-", "check-")  # X-Request-IDs of the bench's own requests to the sink


class BenchError(Exception):
    pass


# --- processes --------------------------------------------------------------------------------
class Child:
    """A process of its own session (stopped with its children), output to a log file."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log_dir: Path, stdout=None):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=stdout or log,
                stderr=log if stdout else subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check(self) -> None:
        if not self.alive():
            raise BenchError(f"{self.name} exited ({self.popen.returncode}):\n{self.log()[-3000:]}")

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} did not print {text!r} within {timeout:g} s")
            time.sleep(0.2)

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            except ProcessLookupError:
                pass


def sink_start(*, env: dict[str, str], log_dir: Path) -> tuple[Child, int, Path]:
    record = log_dir / "arrivals.txt"
    sink = Child(
        "sink",
        [sys.executable, str(ROOT / "bench" / "sink.py"), "--record", str(record)],
        env=env,
        log_dir=log_dir,
        stdout=subprocess.PIPE,
    )
    line = sink.popen.stdout.readline().decode()
    if not line.startswith("PORT "):
        sink.check()
        raise BenchError(f"sink did not report its port: {line!r}")
    return sink, int(line.split()[1]), record


class Arrivals:
    """The sink's record file, read as it grows: (monotonic, wall, path, X-Request-ID) per POST."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.records: list[tuple[float, float, str, str]] = []

    def poll(self) -> list[tuple[float, float, str, str]]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        new = []
        for line in data[:end].decode().splitlines():
            mono, wall, path, request_id = line.split(" ", 3)
            new.append((float(mono), float(wall), path, request_id))
        self.records.extend(new)
        return new

    def wait_for(self, request_ids: set[str], timeout: float) -> tuple[int, float | None]:
        """Wait until every request id arrived (or the timeout): how many did, the last arrival."""
        remaining, last = set(request_ids), None
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            time.sleep(0.05)
            for mono, _, _, request_id in self.poll():
                if request_id in remaining:
                    remaining.discard(request_id)
                    last = mono if last is None else max(last, mono)
        return len(request_ids) - len(remaining), last


# --- platform set-up --------------------------------------------------------------------------
def django_setup(database_url: str, broker_url: str) -> None:
    os.environ.update(
        {"DJANGO_SETTINGS_MODULE": SETTINGS, "DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url}
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("sync_periodic_tasks", verbosity=0)


def leftovers_delete():
    """Delete what earlier runs left (the bench user's partners, their messages and history rows);
    returns the bench user."""
    from django.contrib.auth import get_user_model
    from django.test.utils import override_settings

    from connections.models import Message, Partner

    owner, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    Message.objects.filter(partner__owner=owner).delete()
    with override_settings(SIMPLE_HISTORY_ENABLED=False):  # no "deleted" history row per partner
        Partner.objects.filter(owner=owner).delete()
    Partner.history.filter(owner_id=owner.id).delete()
    return owner


def partners_create(*, owner, count: int, interval: float, sink_url: str, first_due: datetime) -> None:
    """The fleet: ``count`` online Capacity Providers asking for a heartbeat every ``interval``
    seconds, partner i at ``{sink_url}/p/{i}`` and first due at first_due + i * interval / count.

    The dispatcher (``connections.outbound.heartbeats_dispatch``) picks enabled, Registered
    partners in a heartbeat state (online here) whose ``next_heartbeat_at`` has come, and keeps
    their phase, so that column carries each partner's place on the schedule.
    ``offline_mode_at`` stays empty: these partners never send us heartbeats, the offline check
    leaves them online."""
    from connections.choices import ConnectionState, PartnerRole, RegistrationStatus
    from connections.models import Partner

    Partner.objects.bulk_create(
        (
            Partner(
                owner=owner,
                role=PartnerRole.CAPACITY_PROVIDER,
                name=f"Bench CP {i}",
                base_url=f"{sink_url}/p/{i}",
                enabled=True,
                registration_status=RegistrationStatus.REGISTERED,
                connection_state=ConnectionState.ONLINE,
                settings={"heartbeatSeconds": interval},
                partner_token=f"bench-token-{i}",
                next_heartbeat_at=first_due + timedelta(seconds=i * interval / count),
            )
            for i in range(count)
        ),
        batch_size=2000,
    )


def queue_drain(timeout: float = 300.0) -> None:
    """Drop what is queued and wait until the worker runs or holds nothing more (twice in a row)."""
    from oscp_platform.celery import app

    quiet, deadline = 0, time.monotonic() + timeout
    while quiet < 2:
        purged = app.control.purge()
        inspect = app.control.inspect(timeout=2.0, limit=1)
        active, reserved = inspect.active(), inspect.reserved()
        busy = active is None or reserved is None or any(active.values()) or any(reserved.values())
        quiet = 0 if purged or busy else quiet + 1
        if time.monotonic() > deadline:
            raise BenchError(f"the worker was still busy after {timeout:g} s")
        time.sleep(0.5)


# --- the HTTP floor ---------------------------------------------------------------------------
def posts_parallel(urls: list[str], count: int, threads: int, body: bytes, tag: str, post) -> float:
    """``count`` POSTs of ``body`` spread over ``threads`` threads; seconds taken."""
    errors: list[str] = []

    def work(j: int) -> None:
        for k in range(j, count, threads):
            headers = {"Content-Type": "application/json", "X-Request-ID": f"{tag}-{k}", "Authorization": "Token x"}
            status = post(urls[k % len(urls)], body, headers)
            if not 200 <= status < 300:
                errors.append(f"{urls[k % len(urls)]}: {status}")

    pool = [threading.Thread(target=work, args=(j,)) for j in range(threads)]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise BenchError(f"{len(errors)} failed posts to the sink, e.g. {errors[0]}")
    return elapsed


def requests_post(url: str, body: bytes, headers: dict) -> int:
    """Like the partner client: ``requests.post``, no Session (a new connection per message)."""
    return requests.post(url, data=body, headers=headers, timeout=(5, 15), allow_redirects=False).status_code


def raw_post(url: str, body: bytes, headers: dict) -> int:
    """The lightest stdlib client, a new connection per request (for the sink check)."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    conn = http.client.HTTPConnection(name, int(port), timeout=15)
    try:
        conn.request("POST", "/" + rest, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def sink_check(urls: list[str], body: bytes) -> float:
    """Requests/s the sink takes from SINK_CHECK_THREADS threads for SINK_CHECK_SECONDS (a lower
    bound: the client shares the machine and the GIL)."""
    count, rate = 500, 0.0
    while True:
        elapsed = posts_parallel(urls, count, SINK_CHECK_THREADS, body, f"check-{count}", raw_post)
        rate = count / elapsed
        if elapsed >= SINK_CHECK_SECONDS:
            return rate
        count = int(rate * SINK_CHECK_SECONDS * 1.1) + 1


# --- the rounds -------------------------------------------------------------------------------
def outbox_burst(*, partners: list, count: int, interval: float, arrivals: Arrivals) -> dict:
    """``count`` heartbeat messages written through the outbox in one transaction, as the
    platform's dispatchers write them (one INSERT, published per batch on commit); delivered/s
    at the sink, from the commit."""
    from django.db import transaction
    from django.utils import timezone

    from connections.choices import MessageType
    from connections.oscp.serializers import wire_time
    from connections.outbox import outbox_enqueue_many, outbox_message

    offline_at = timezone.now() + timedelta(seconds=2 * interval)
    body = {"offline_mode_at": wire_time(offline_at, "milliseconds")}
    began = time.monotonic()
    with transaction.atomic():
        messages = outbox_enqueue_many(
            [
                outbox_message(partner=partners[i % len(partners)], message_type=MessageType.HEARTBEAT, body=body)
                for i in range(count)
            ]
        )
        request_ids = {message.request_id for message in messages}
        committing = time.monotonic()  # the commit publishes the messages_send tasks
    published = time.monotonic()
    received, last = arrivals.wait_for(request_ids, BURST_TIMEOUT_SECONDS)
    end = last if received == count else time.monotonic()
    return {
        "rate": received / (end - committing),
        "received": received,
        "seconds": end - committing,
        "enqueue_seconds": committing - began,
        "publish_seconds": published - committing,
    }


def floor_round(*, urls: list[str], count: int, threads: int, body: bytes, tag: str) -> dict:
    elapsed = posts_parallel(urls, count, threads, body, tag, requests_post)
    return {"rate": count / elapsed, "received": count, "seconds": elapsed}


# --- steady-state figures ---------------------------------------------------------------------
def percentile(lags: list[tuple[float, bool]], fraction: float) -> tuple[float, bool]:
    """Nearest-rank percentile of sorted (lag, censored) pairs, and whether it is only a lower
    bound: a censored lag at or below its rank may really be larger and move it up."""
    if not lags:
        return 0.0, False
    rank = max(0, math.ceil(fraction * len(lags)) - 1)
    return lags[rank][0], any(censored for _, censored in lags[: rank + 1])


def steady_figures(records, *, count, interval, first_due, window_start, window_end, cutoff) -> dict:
    """Lag, on-time share, rate and silences of the heartbeats due in [window_start, window_end)
    (epoch seconds), from the sink's arrivals up to ``cutoff``."""
    times = defaultdict(list)
    seen = set()
    for _, wall, path, request_id in records:
        match = HEARTBEAT_PATH.match(path)
        if not match or wall > cutoff or request_id in seen or request_id.startswith(CLIENT_PREFIXES):
            continue
        seen.add(request_id)  # a retry of the same message counts once
        times[int(match[1])].append(wall)
    lags = []  # (seconds, censored: had not arrived by the cutoff)
    silent, gaps, received = 0, [], 0
    for i in range(count):
        arrived = sorted(times.get(i, ()))
        first = first_due + i * interval / count
        k = max(0, math.ceil((window_start - first) / interval))
        while (due := first + k * interval) < window_end:
            lags.append((arrived[k] - due, False) if k < len(arrived) else (cutoff - due, True))
            k += 1
        in_window = [t for t in arrived if window_start <= t < window_end]
        received += len(in_window)
        gaps += [b - a for a, b in zip(arrived, arrived[1:], strict=False) if window_start <= b < window_end]
        previous = max((t for t in arrived if t < window_start), default=first - interval)
        longest = max([b - a for a, b in zip([previous, *in_window], [*in_window, window_end], strict=True)])
        silent += longest > SILENT_INTERVALS * interval
    lags.sort()
    seconds = window_end - window_start
    return {
        "needed_per_s": count / interval,
        "received_per_s": received / seconds,
        "due": len(lags),
        "missing": sum(censored for _, censored in lags),
        "on_time_percent": 100 * sum(not c and lag <= ON_TIME_SECONDS for lag, c in lags) / max(len(lags), 1),
        "lag_p50": percentile(lags, 0.50),
        "lag_p99": percentile(lags, 0.99),
        "lag_max": percentile(lags, 1.0),
        "mean_gap": statistics.fmean(gaps) if gaps else None,
        "silent": silent,
    }


def heartbeat_messages(owner, *, window_start: datetime, window_end: datetime) -> dict:
    from django.utils import timezone

    from connections.choices import MessageDirection, MessageStatus
    from connections.models import Message

    heartbeats = Message.objects.filter(
        partner__owner=owner, direction=MessageDirection.OUTBOUND, message_type="heartbeat"
    )
    unsent = (MessageStatus.PENDING, MessageStatus.FAILED, MessageStatus.SENDING)
    return {
        "written": heartbeats.filter(created__gte=window_start, created__lt=window_end).count(),
        "dead": heartbeats.filter(status=MessageStatus.DEAD).count(),
        "overdue": heartbeats.filter(status__in=unsent, deadline__lt=timezone.now()).count(),
        "unsent": heartbeats.filter(status__in=unsent).count(),
    }


# --- output -----------------------------------------------------------------------------------
def seconds_text(value: tuple[float, bool]) -> str:
    lag, lower_bound = value
    return f"{'≥' if lower_bound else ''}{lag:.2f} s"


def report(args, steady: dict, messages: dict, floors: list[dict], bursts: list[dict], sink_rate: float) -> None:
    lag_p99, lower_bound = steady["lag_p99"]
    floor_rate = statistics.median(r["rate"] for r in floors)
    outbox_rate = statistics.median(r["rate"] for r in bursts)
    rows = [
        ratio_row(
            "heartbeats sent/s vs needed",
            steady["received_per_s"],
            steady["needed_per_s"],
            unit="heartbeats/s",
            goal=RATE_GOAL,
            higher_is_better=True,
        ),
        Row(
            "heartbeat lag p99",
            seconds_text(steady["lag_p99"]),
            "-",
            None,
            f"< {LAG_P99_GOAL_SECONDS:g} s",
            not lower_bound and lag_p99 < LAG_P99_GOAL_SECONDS,
        ),
        Row(
            f"heartbeats on time (<= {ON_TIME_SECONDS:g} s late)",
            f"{steady['on_time_percent']:.1f} %",
            "-",
            None,
            f">= {ON_TIME_GOAL_PERCENT:g} %",
            steady["on_time_percent"] >= ON_TIME_GOAL_PERCENT,
        ),
        ratio_row(
            "outbox delivery/s vs plain HTTP floor",
            outbox_rate,
            floor_rate,
            unit="messages/s",
            goal=OUTBOX_RATIO_GOAL,
            higher_is_better=True,
        ),
    ]
    print()
    print(
        f"{args.partners} partners, heartbeat every {args.interval:g} s, warm-up {args.warmup:g} s, "
        f"window {args.duration:g} s; burst {args.burst} messages x {args.rounds} rounds"
    )
    print(
        f"steady state: {steady['due']} heartbeats due in the window, {steady['missing']} not arrived "
        f"{TAIL_SECONDS:g} s after it; lag p50 {seconds_text(steady['lag_p50'])}, "
        f"p99 {seconds_text(steady['lag_p99'])}, max {seconds_text(steady['lag_max'])}"
    )
    gap = f"{steady['mean_gap']:.2f} s" if steady["mean_gap"] is not None else "-"
    print(
        f"  heartbeat messages written (dispatched) {messages['written'] / args.duration:.1f}/s; "
        f"mean time between a partner's heartbeats {gap} (asked: {args.interval:g} s)"
    )
    print(
        f"  partners silent > {SILENT_INTERVALS} x interval: {steady['silent']} of {args.partners}; "
        f"heartbeat messages dead: {messages['dead']}, unsent past their deadline: {messages['overdue']} "
        f"(unsent in all: {messages['unsent']})"
    )
    for name, rounds in (("floor (requests.post)", floors), ("outbox burst", bursts)):
        parts = [f"{r['rate']:.1f}/s ({r['received']} in {r['seconds']:.1f} s)" for r in rounds]
        print(f"{name}: " + ", ".join(parts))
    for r in bursts:
        if r["received"] < args.burst:
            print(f"  burst incomplete: {r['received']} of {args.burst} within {BURST_TIMEOUT_SECONDS:g} s")
    enqueue = statistics.median(r["enqueue_seconds"] for r in bursts)
    publish = statistics.median(r["publish_seconds"] for r in bursts)
    print(f"  outbox_enqueue of {args.burst} (not timed): {enqueue:.1f} s; commit + publish: {publish:.1f} s")
    busiest = max(floor_rate, outbox_rate, steady["received_per_s"])
    verdict = "ok" if busiest < sink_rate / 2 else "TOO CLOSE: the sink may be the bottleneck"
    print(
        f"sink check: {sink_rate:.0f} requests/s ({SINK_CHECK_THREADS} threads, a new connection each, "
        f"a lower bound); busiest figure above {busiest:.0f}/s: {verdict}"
    )
    print()
    rows_print(rows)


# --- main -------------------------------------------------------------------------------------
def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, help="default 10000 (2000 with --quick)")
    parser.add_argument("--interval", type=float, default=60.0, help="heartbeat interval, seconds")
    parser.add_argument("--duration", type=float, help="steady-state window, seconds (default 120, 60 with --quick)")
    parser.add_argument("--warmup", type=float, help="before the window, seconds (default 30, 10 with --quick)")
    parser.add_argument("--burst", type=int, help="messages per outbox burst (default 3000, 500 with --quick)")
    parser.add_argument("--rounds", type=int, default=2, help="floor and outbox rounds each (at least 2)")
    parser.add_argument("--quick", action="store_true", help="2000 partners, a 60 s window: about two minutes in all")
    parser.add_argument("--database-url", help="default: a fresh database oscp_bench_heartbeats")
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("CELERY_BROKER_URL") or dotenv_value("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker, beat and sink logs")
    args = parser.parse_args()
    args.partners = args.partners or (2000 if args.quick else 10000)
    args.duration = args.duration or (60.0 if args.quick else 120.0)
    args.warmup = args.warmup if args.warmup is not None else (10.0 if args.quick else 30.0)
    args.burst = args.burst or (500 if args.quick else 3000)
    if args.database_url and not args.database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        parser.error("PostgreSQL needed: --database-url postgres://...")
    if not args.broker_url.startswith(("redis://", "rediss://")):
        parser.error("Redis needed: set CELERY_BROKER_URL or --broker-url (redis://...)")
    if args.rounds < 2 or min(args.partners, args.interval, args.duration, args.burst) <= 0 or args.warmup < 0:
        parser.error("--rounds must be at least 2; counts and times positive")
    return args


def run(args, log_dir: Path, children: list[Child]) -> None:
    django_setup(args.database_url or database_recreate("oscp_bench_heartbeats"), args.broker_url)
    from django.db import connection

    from connections.models import Partner
    from oscp_platform.celery import app
    from oscp_platform.management.commands.run_platform import platform_commands

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    owner = leftovers_delete()
    others = Partner.objects.exclude(owner=owner).filter(enabled=True).count()
    if others:
        print(f"note: {others} other enabled partners in this database get heartbeats too", flush=True)
    app.control.purge()  # tasks an earlier run left behind

    sink, port, record = sink_start(env=env, log_dir=log_dir)
    children.append(sink)
    arrivals = Arrivals(record)
    sink_url = f"http://127.0.0.1:{port}"
    urls = [f"{sink_url}/p/{i}/heartbeat" for i in range(args.partners)]
    body = {"offline_mode_at": "2030-01-01T00:00:00.000Z"}  # the floor and the check send this shape
    body_bytes = json.dumps(body).encode()
    sink_rate = sink_check(urls, body_bytes)
    print(f"sink on {sink_url}: {sink_rate:.0f} requests/s in the check", flush=True)

    commands = platform_commands()
    worker = Child("worker", commands["worker"], env=env, log_dir=log_dir)
    children.append(worker)
    beat = Child("beat", commands["beat"], env=env, log_dir=log_dir)
    children.append(beat)
    worker.wait_for_output(" ready.")
    beat.wait_for_output("beat: Starting...")
    concurrency = int(next(a.split("=", 1)[1] for a in commands["worker"] if a.startswith("--concurrency=")))

    lead = 2.0 + args.partners / 4000  # the insert must commit before the first partner is due
    first_due = datetime.now(UTC) + timedelta(seconds=lead)
    partners_create(owner=owner, count=args.partners, interval=args.interval, sink_url=sink_url, first_due=first_due)
    late = time.time() - first_due.timestamp()
    if late > 0:
        print(f"note: the partners were committed {late:.1f} s after the first was due", flush=True)
    t0 = first_due.timestamp()
    window_start, window_end = t0 + args.warmup, t0 + args.warmup + args.duration
    cutoff = window_end + TAIL_SECONDS
    print(
        f"{args.partners} partners due from now on, {args.partners / args.interval:.1f} heartbeats/s needed; "
        f"window {args.warmup:g} s .. {args.warmup + args.duration:g} s after t0",
        flush=True,
    )

    last_report, last_count = time.time(), 0
    while (now := time.time()) < cutoff:
        for child in children:
            child.check()
        time.sleep(min(1.0, cutoff - now))
        if time.time() - last_report >= 30:
            arrivals.poll()
            total = sum(1 for r in arrivals.records if not r[3].startswith(CLIENT_PREFIXES))
            rate = (total - last_count) / (time.time() - last_report)
            print(f"  t0 + {time.time() - t0:4.0f} s: {total} heartbeats received, {rate:.1f}/s lately", flush=True)
            last_report, last_count = time.time(), total
    time.sleep(0.3)  # the sink flushes every 0.1 s
    arrivals.poll()
    steady = steady_figures(
        list(arrivals.records),
        count=args.partners,
        interval=args.interval,
        first_due=t0,
        window_start=window_start,
        window_end=window_end,
        cutoff=cutoff,
    )
    messages = heartbeat_messages(
        owner,
        window_start=datetime.fromtimestamp(window_start, UTC),
        window_end=datetime.fromtimestamp(window_end, UTC),
    )

    print("steady state measured; stopping beat and draining the queue", flush=True)
    beat.stop()
    queue_drain()
    partners = list(Partner.objects.filter(owner=owner).only("id").order_by("id"))
    floors, bursts = [], []
    for n in range(args.rounds):
        floors.append(floor_round(urls=urls, count=args.burst, threads=concurrency, body=body_bytes, tag=f"floor-{n}"))
        print(f"  floor round {n + 1}: {floors[-1]['rate']:.1f} posts/s", flush=True)
        worker.check()
        bursts.append(outbox_burst(partners=partners, count=args.burst, interval=args.interval, arrivals=arrivals))
        print(f"  outbox round {n + 1}: {bursts[-1]['rate']:.1f} delivered/s", flush=True)
        queue_drain()  # an incomplete burst must not run into the next round
    connection.close()
    report(args, steady, messages, floors, bursts, sink_rate)


def main() -> int:
    args = arguments()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-heartbeats-"))
    children: list[Child] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the children on the way out
    failed = True
    try:
        run(args, log_dir, children)
        failed = False
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        for child in reversed(children):
            child.stop()
        if failed or args.keep_logs:
            print(f"logs: {log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
