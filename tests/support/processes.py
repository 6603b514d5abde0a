"""Real processes for end-to-end tests: a Celery worker (optionally with embedded beat) and a web
server (gunicorn), both running against the *test* database and ``CELERY_BROKER_URL``.

They only see committed data, so tests that use them need ``transactional_db`` (the fixtures in
``tests/support/fixtures.py`` ask for it) and PostgreSQL (mark them ``postgres``; an in-memory
SQLite test database cannot be shared between processes). Every process gets its own session so it
can be stopped (SIGTERM, then SIGKILL) or killed outright with its children. Output goes to a log
file whose tail is printed when the process stops, so a failing test shows what the worker said.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.1, message: str = ""):
    """Poll ``predicate`` until it returns something truthy (which is returned) or fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


def database_url() -> str:
    """``DATABASE_URL`` of the database this test process uses (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("Real-process tests need PostgreSQL (mark the test `postgres`).")
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process: the test database, the broker, the same secrets."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "oscp_platform.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SECRET_KEY": settings.SECRET_KEY,
            "TOKEN_HMAC_KEY": settings.TOKEN_HMAC_KEY,
            "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


class ManagedProcess:
    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 20.0) -> None:
        def seen():
            if not self.alive():
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}):\n{self.output()[-3000:]}")
            return text in self.output()

        wait_until(seen, timeout, 0.2, f"{self.name} did not print {text!r} within {timeout}s")

    def kill(self) -> None:
        """SIGKILL the process and all its children (a crashed machine: no cleanup at all)."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    stop_signal = signal.SIGTERM

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            try:
                os.killpg(self.pid, self.stop_signal)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            except ProcessLookupError:
                pass
        if not self._log.closed:
            self._log.close()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            print(f"--- {self.name} log tail ({self.log_path}) ---\n{tail}")  # shown when a test fails


def celery_purge() -> int:
    """Drop whatever earlier tests left in the broker's default queue."""
    from oscp_platform.celery import app

    return app.control.purge()


def start_celery_worker(
    *,
    name: str,
    log_dir: Path,
    beat: bool = False,
    concurrency: int = 1,
    env: dict[str, str] | None = None,
) -> ManagedProcess:
    """A real ``celery worker`` (prefork pool) against the test database; ``beat=True`` embeds
    celery beat (django-celery-beat's DatabaseScheduler, loaded from CELERY_BEAT_SCHEDULE)."""
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "oscp_platform",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "--pool=prefork",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        args += ["--beat", f"--schedule={log_dir / (name + '-beat.db')}"]
    process = ManagedProcess(name, args, env=process_env(env), log_dir=log_dir)
    # Cold shutdown: tests do not wait for countdown retries; unacknowledged tasks go back to the
    # broker and the next worker_factory purges them.
    process.stop_signal = signal.SIGQUIT
    process.wait_for_output("ready.", timeout=30)
    return process


def start_celery_beat(*, name: str = "beat", log_dir: Path, env: dict[str, str] | None = None) -> ManagedProcess:
    """A real ``celery beat`` (the platform's scheduler: django-celery-beat, one at a time)."""
    args = [sys.executable, "-m", "celery", "-A", "oscp_platform", "beat", "--loglevel=INFO"]
    process = ManagedProcess(name, args, env=process_env(env), log_dir=log_dir)
    process.wait_for_output("beat: Starting", timeout=30)
    return process


class RedisServer(ManagedProcess):
    """A throwaway ``redis-server`` on a free port (no persistence), for broker outages: ``stop()``
    and ``restart()`` it; the machine's shared Redis is never touched."""

    def __init__(self, *, log_dir: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log_dir = log_dir
        self._start()

    def _start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        super().__init__(f"redis-{self.port}", args, env=dict(os.environ), log_dir=self._log_dir)
        self.wait_for_output("Ready to accept connections", timeout=10)

    def restart(self) -> None:
        self.stop()
        self._start()


class WebServer(ManagedProcess):
    def __init__(self, *args, port: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


def start_web_server(*, log_dir: Path, env: dict[str, str] | None = None, name: str = "web") -> WebServer:
    """gunicorn serving the platform on a free port of 127.0.0.1; returns once it answers."""
    port = free_port()
    extra = {
        "OSCP_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}/oscp/fp/2.0",
        "OCPI_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}/ocpi",
        **(env or {}),
    }
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "oscp_platform.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        "--workers=1",
        "--threads=4",
        "--timeout=30",
    ]
    server = WebServer(name, args, env=process_env(extra), log_dir=log_dir, port=port)

    def answers():
        if not server.alive():
            raise AssertionError(f"web server exited:\n{server.output()[-3000:]}")
        try:
            with urllib.request.urlopen(server.url + "/health/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered (503 when the broker is down is still an answer)
        except OSError:
            return False

    wait_until(answers, 20, 0.2, "web server did not answer within 20s")
    return server


def start_ocpi_emsp(*, log_dir: Path, token_a: str, name: str = "emsp") -> WebServer:
    """The OCPI eMSP peer (``tests/support/ocpi_emsp.py``) as a process of its own on a free port;
    ``.url`` is its base (its versions are at ``.url + "/ocpi/versions"``)."""
    port = free_port()
    args = [sys.executable, "-m", "tests.support.ocpi_emsp", f"--port={port}", f"--token-a={token_a}"]
    process = WebServer(name, args, env=process_env(), log_dir=log_dir, port=port)
    process.wait_for_output("listening", timeout=20)
    return process
