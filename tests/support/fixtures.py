"""Fixtures for end-to-end tests with real processes (registered in tests/conftest.py).

- ``peer`` / ``peer_factory``: a real local HTTP partner (``tests.support.peer.Peer``).
- ``worker_factory(name=..., beat=False, env={...})``: start a real Celery worker subprocess on the
  test database and the Redis broker; all are stopped at teardown. ``real_worker``: one worker
  with embedded beat.
- ``web_server``: gunicorn on a free port against the test database (``.url``).
- ``process_settings``: env vars given to every process a test starts (short intervals, ...);
  update it before starting them.

They use ``transactional_db``: the processes only see committed rows. Mark such tests ``postgres``
and ``redis``.
"""

from __future__ import annotations

import pytest

from .peer import Peer
from .processes import ManagedProcess, celery_purge, start_celery_worker, start_web_server, wait_until

__all__ = ["wait_until"]


@pytest.fixture
def peer_factory():
    peers: list[Peer] = []

    def make(**kwargs) -> Peer:
        peers.append(Peer(**kwargs).start())
        return peers[-1]

    yield make
    for item in peers:
        item.stop()


@pytest.fixture
def peer(peer_factory) -> Peer:
    return peer_factory()


@pytest.fixture
def process_settings() -> dict[str, str]:
    return {}


@pytest.fixture
def process_log_dir(tmp_path):
    path = tmp_path / "processes"
    path.mkdir()
    return path


@pytest.fixture
def worker_factory(transactional_db, process_settings, process_log_dir):
    started: list[ManagedProcess] = []
    celery_purge()

    def make(*, name: str = "worker", beat: bool = False, concurrency: int = 1, env: dict | None = None):
        process = start_celery_worker(
            name=f"{name}{len(started)}",
            log_dir=process_log_dir,
            beat=beat,
            concurrency=concurrency,
            env={**process_settings, **(env or {})},
        )
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()
    celery_purge()


@pytest.fixture
def real_worker(worker_factory):
    return worker_factory(beat=True)


@pytest.fixture
def web_server(transactional_db, process_settings, process_log_dir):
    server = start_web_server(log_dir=process_log_dir, env=process_settings)
    yield server
    server.stop()
