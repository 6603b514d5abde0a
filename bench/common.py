"""What every benchmark shares: a fresh database, the platform under gunicorn with production
settings, load generators (saturating, and open-loop at a fixed offered rate), alternating rounds,
and the one result table.

Each benchmark script ends with ``rows_print(rows)``: it prints the table
``figure | ours | floor | ratio | goal | holds`` and one machine-readable line
``BENCH_ROWS [...]`` that ``bench/run_all.py`` collects into the combined table.
"""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
PG_SERVER = os.environ.get("PGURL", "postgres://postgres@127.0.0.1:5432")
ROWS_MARK = "BENCH_ROWS "


# --- results -------------------------------------------------------------------------------------


@dataclass
class Row:
    """One figure next to its floor. ``ratio`` is ours / floor unless given (None when no floor);
    ``goal`` is the text shown, ``holds`` whether this run met it."""

    figure: str
    ours: str
    floor: str
    ratio: float | None
    goal: str
    holds: bool


def ratio_row(figure: str, ours: float, floor: float, *, unit: str, goal: float, higher_is_better: bool) -> Row:
    """A row whose goal is a ratio to the floor: ``>= goal`` or ``<= goal``."""
    ratio = ours / floor if floor else math.inf
    holds = ratio >= goal if higher_is_better else ratio <= goal
    sign = ">=" if higher_is_better else "<="
    return Row(figure, quantity(ours, unit), quantity(floor, unit), ratio, f"ratio {sign} {goal:g}", holds)


def limit_row(figure: str, ours: float, *, unit: str, limit: float, floor: float | None = None) -> Row:
    """A row whose goal is an absolute ceiling (``< limit``), the floor shown for scale."""
    return Row(
        figure,
        quantity(ours, unit),
        quantity(floor, unit) if floor is not None else "-",
        (ours / floor) if floor else None,
        f"< {quantity(limit, unit)}",
        ours < limit,
    )


def quantity(value: float, unit: str) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def table_text(rows: list[Row]) -> str:
    header = ["figure", "ours", "floor", "ratio", "goal", "holds"]
    cells = [
        [r.figure, r.ours, r.floor, "-" if r.ratio is None else f"{r.ratio:.3g}", r.goal, "yes" if r.holds else "NO"]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values):
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(header), rule, *(line(c) for c in cells)])


def rows_print(rows: list[Row]) -> None:
    print(table_text(rows), flush=True)
    print(ROWS_MARK + json.dumps([asdict(r) for r in rows]), flush=True)


def rows_parse(output: str) -> list[Row]:
    rows = []
    for text in output.splitlines():
        if text.startswith(ROWS_MARK):
            rows.extend(Row(**item) for item in json.loads(text[len(ROWS_MARK) :]))
    return rows


# --- statistics ----------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 < fraction <= 1)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def median(values: list[float]) -> float:
    return percentile(values, 0.5)


def alternate(rounds: int, contenders: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run each contender once per round, in turn, so that a slow spell of the machine falls on
    all of them alike. Returns every contender's results in round order."""
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            results[name].append(run())
    return results


# --- load ----------------------------------------------------------------------------------------


@dataclass
class Load:
    sent: int
    failures: int
    statuses: list[int]
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def saturate(send: Callable[[requests.Session], int], *, seconds: float, threads: int) -> Load:
    """Closed loop: ``threads`` clients each send as fast as answers come back."""
    latencies: list[float] = []
    bad: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client():
        session = requests.Session()
        session.trust_env = False
        mine, mine_bad = [], []
        while time.monotonic() < stop_at:
            begin = time.perf_counter()
            status = send(session)
            mine.append(time.perf_counter() - begin)
            if status >= 300:
                mine_bad.append(status)
        with lock:
            latencies.extend(mine)
            bad.extend(mine_bad)

    started = time.monotonic()
    pool = [threading.Thread(target=client) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return Load(len(latencies), len(bad), sorted(set(bad)), time.monotonic() - started, latencies)


def fixed_rate(send: Callable[[requests.Session], int], *, rate: float, seconds: float, threads: int = 32) -> Load:
    """Open loop at ``rate`` requests/s for ``seconds``: request i is due at start + i/rate, and its
    latency counts from when it was due, so a server that falls behind shows the queueing it
    causes (no coordinated omission). ``threads`` must be enough to keep the rate when the server
    is fast; a slow server makes requests late, which the latencies then show."""
    total = int(rate * seconds)
    latencies: list[float] = []
    bad: list[int] = []
    lock = threading.Lock()
    counter = iter(range(total))
    start = time.perf_counter() + 0.05

    def client():
        session = requests.Session()
        session.trust_env = False
        mine, mine_bad = [], []
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            due = start + index / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            status = send(session)
            mine.append(time.perf_counter() - due)
            if status >= 300:
                mine_bad.append(status)
        with lock:
            latencies.extend(mine)
            bad.extend(mine_bad)

    pool = [threading.Thread(target=client) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return Load(len(latencies), len(bad), sorted(set(bad)), time.perf_counter() - start, latencies)


# --- the platform under test ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_recreate(name: str) -> str:
    """Drop and create database ``name`` on the PostgreSQL server; return its URL."""
    with psycopg.connect(PG_SERVER + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_SERVER}/{name}"


def dotenv_value(name: str) -> str | None:
    env_file = ROOT / ".env"
    if env_file.exists():
        for text in env_file.read_text().splitlines():
            if text.startswith(name + "="):
                return text.split("=", 1)[1].strip()
    return None


def platform_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production process on ``database_url``."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "oscp_platform.settings.production",
        "ALLOW_INSECURE_SECRET_KEY": "1",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL")
        or dotenv_value("CELERY_BROKER_URL")
        or "redis://127.0.0.1:6379/15",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def manage(env: dict[str, str], *args: str) -> str:
    """Run ``manage.py args`` in ``env``; return its stdout."""
    done = subprocess.run(
        [str(PYTHON), "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def migrate(env: dict[str, str]) -> None:
    manage(env, "migrate", "--noinput", "-v", "0")


class Gunicorn:
    """``with Gunicorn(env) as base:`` serves the platform on a free loopback port until the block
    ends; ``base`` is its URL."""

    def __init__(self, env: dict[str, str], *, workers: int = 3, threads: int = 1):
        self.env = env
        self.workers = workers
        self.threads = threads
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> str:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [str(GUNICORN), "oscp_platform.wsgi", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", str(self.workers), "--threads", str(self.threads)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(150):
            try:
                if requests.get(base + "/health/", timeout=5).status_code == 200:
                    return base
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not become healthy")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)
