"""``make bench``: every benchmark in turn, then one combined table and the total wall time.

Runs ``forecasts.py``, ``reports.py``, ``datum.py`` and ``heartbeats.py`` (a script not there yet is
skipped with a note), passes ``--quick`` through, shows each script's output as it comes and
collects the rows it prints with ``rows_print``. Needs PostgreSQL (``PGURL``, default
postgres://postgres@127.0.0.1:5432; each script recreates a database of its own) and Redis
(``CELERY_BROKER_URL``, else the value in ``.env``, else redis://127.0.0.1:6379/15).

    .venv/bin/python bench/run_all.py [--quick]

A script still running after ten minutes is stopped. Exits non-zero if a script fails or is
stopped, prints no rows, or a row does not hold.
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Row, rows_parse, table_text  # noqa: E402

BENCH = Path(__file__).resolve().parent
SCRIPTS = ["forecasts.py", "reports.py", "datum.py", "heartbeats.py"]
SCRIPT_LIMIT_SECONDS = 600  # a script still running after this is stopped and counts as failed


def script_run(name: str, quick: bool) -> tuple[list[Row], str | None]:
    """Run one script, echoing its output; its rows, and what went wrong (or None)."""
    command = [sys.executable, str(BENCH / name), *(["--quick"] if quick else [])]
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=BENCH.parent, stdout=subprocess.PIPE, text=True, bufsize=1, start_new_session=True
    )
    # SIGTERM to the script's process group: the script and the servers it started stop together.
    limit = threading.Timer(SCRIPT_LIMIT_SECONDS, os.killpg, (process.pid, signal.SIGTERM))
    limit.start()
    lines = []
    try:
        for text in process.stdout:
            print(text, end="", flush=True)
            lines.append(text)
        code = process.wait()
    except KeyboardInterrupt:  # the script has a session of its own: Ctrl-C does not reach it
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise
    finally:
        limit.cancel()
    print(f"=== {name}: {time.monotonic() - started:.0f} s", flush=True)
    rows = rows_parse("".join(lines))
    if time.monotonic() - started >= SCRIPT_LIMIT_SECONDS:
        return rows, f"{name} was stopped after {SCRIPT_LIMIT_SECONDS} s"
    if code != 0:
        return rows, f"{name} exited with {code}"
    if not rows:
        return rows, f"{name} printed no rows"
    return rows, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each script's short version")
    args = parser.parse_args()

    started = time.monotonic()
    rows: list[Row] = []
    problems: list[str] = []
    for name in SCRIPTS:
        if not (BENCH / name).exists():
            print(f"=== {name}: not there yet, skipped", flush=True)
            continue
        print(f"=== {name}", flush=True)
        script_rows, problem = script_run(name, args.quick)
        rows += script_rows
        if problem:
            problems.append(problem)

    print()
    if rows:
        print(table_text(rows))
    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    print(f"\ntotal wall time: {minutes} min {seconds:02d} s{' (--quick)' if args.quick else ''}")
    failing = [row.figure for row in rows if not row.holds]
    for figure in failing:
        print(f"does not hold: {figure}")
    for problem in problems:
        print(f"failed: {problem}")
    return 1 if failing or problems else 0


if __name__ == "__main__":
    sys.exit(main())
