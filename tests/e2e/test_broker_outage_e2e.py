"""A Redis outage during inbound traffic (the platform's own throwaway Redis, stopped and started):
every committed forecast is answered 204 and forwarded once, ``/health/ready`` is 503 while the
broker is down and 200 after, and the worker and beat reconnect instead of exiting."""

import time

import pytest
import requests

from tests.support.processes import RedisServer, start_celery_beat, start_web_server, wait_until
from tests.support.traffic import ForecastTraffic

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def ready(url: str) -> tuple[int, dict]:
    response = requests.get(url + "/health/ready", timeout=10)
    return response.status_code, response.json()


def test_redis_outage_gives_no_5xx_and_loses_nothing(peer, worker_factory, process_log_dir):
    redis = RedisServer(log_dir=process_log_dir)
    env = {
        "CELERY_BROKER_URL": redis.url,
        "OSCP_OUTBOX_SWEEP_SECONDS": "1",
        "OSCP_OUTBOX_SWEEP_GRACE_SECONDS": "2",
        "OSCP_RETRY_BASE_SECONDS": "0.5",
        "OSCP_RETRY_MAX_SECONDS": "1",
    }
    traffic = ForecastTraffic.create(peer)
    processes = [
        web := start_web_server(log_dir=process_log_dir, env=env),
        worker := worker_factory(name="outage-worker", env=env),
        beat := start_celery_beat(log_dir=process_log_dir, env=env),
    ]
    try:
        wait_until(lambda: ready(web.url)[0] == 200, 20, 0.5, "never ready before the outage")
        for _ in range(5):
            assert traffic.post(web.url) == 204
        wait_until(lambda: len(traffic.delivered()) == 5, 20, message="forecasts not forwarded before the outage")

        redis.stop()
        for _ in range(15):
            assert traffic.post(web.url) == 204, traffic.answers[-1]
            time.sleep(0.2)
        status, body = ready(web.url)
        assert status == 503 and body["checks"]["broker"]["ok"] is False, body
        assert body["checks"]["database"]["ok"] is True
        assert "Broker unavailable" in web.output()
        time.sleep(3)  # the worker and beat meet the outage too

        redis.restart()
        wait_until(lambda: ready(web.url)[0] == 200, 30, 0.5, "not ready again after the broker came back")
        for _ in range(5):
            assert traffic.post(web.url) == 204
        wait_until(lambda: len(traffic.delivered()) >= 25, 60, 0.5, "forecasts lost in the outage")
        time.sleep(2)
        assert sorted(traffic.delivered()) == sorted(traffic.sent)  # every one, once
        assert worker.alive() and beat.alive() and web.alive()
    finally:
        for process in processes:
            process.stop()
        redis.stop()
