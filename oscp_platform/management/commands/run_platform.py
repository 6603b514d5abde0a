"""``make run``: the web server, a Celery worker and Celery beat under one supervising parent.

A process that exits is started again after a backoff (1 s, doubling up to 30 s; back to 1 s once
it stayed up for a minute), and its exit code is logged; the others keep running. Ctrl-C (SIGINT)
or SIGTERM stops all three. This is for a developer's machine and demos; production runs the same
processes under supervisor (``deploy/``; README "Running in production").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from django.core.management.base import BaseCommand

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0


def platform_commands(*, port: str = "8000", python: str = sys.executable) -> dict[str, list[str]]:
    """The command lines of the web server, the Celery worker and Celery beat, run from the
    repository root. Defined once: ``run_platform`` starts all three, ``bench/heartbeats.py`` starts
    the same worker and beat."""
    return {
        "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [python, "-m", "celery", "-A", "oscp_platform", "worker", "--loglevel=INFO", "--concurrency=2"],
        "beat": [python, "-m", "celery", "-A", "oscp_platform", "beat", "--loglevel=INFO"],
    }


@dataclass
class Supervised:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat, restarting any that dies; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))

    def say(self, text: str) -> None:
        self.stdout.write(f"[run_platform] {text}")
        self.stdout.flush()

    def start(self, item: Supervised) -> None:
        item.process = subprocess.Popen(item.command)
        item.started_at, item.restart_at = time.monotonic(), None
        self.say(f"{item.name} started (pid {item.process.pid})")

    def handle(self, *args, port, **options):
        # The children read PORT: the URLs we advertise to partners (register, token URL) follow it.
        os.environ["PORT"] = str(port)
        supervised = [Supervised(name, cmd) for name, cmd in platform_commands(port=port).items()]
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for item in supervised:
            self.start(item)
        self.say(f"Serving on http://127.0.0.1:{port}/admin/ (Ctrl-C stops everything)")
        try:
            while not stopping:
                now = time.monotonic()
                for item in supervised:
                    if item.restart_at is not None:
                        if now >= item.restart_at and not stopping:
                            self.start(item)
                        continue
                    code = item.process.poll()
                    if code is None:
                        continue
                    if now - item.started_at >= STABLE_AFTER:
                        item.backoff = BACKOFF_FIRST
                    self.stderr.write(
                        f"[run_platform] {item.name} (pid {item.process.pid}) exited with {code}; "
                        f"restarting in {item.backoff:g}s"
                    )
                    item.restart_at = now + item.backoff
                    item.backoff = min(item.backoff * 2, BACKOFF_MAX)
                time.sleep(0.2)
        finally:
            self.say("stopping")
            running = [item.process for item in supervised if item.process and item.process.poll() is None]
            for process in running:
                process.terminate()
            for process in running:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
