"""Many workers, many machines: two gunicorn servers, three Celery workers (separate processes, as on
separate machines) and beat, all on one PostgreSQL and one Redis. A Capacity Provider posts a
steady stream of forecasts through both web servers, each forwarded to the optimizer (a real local
peer that also gets heartbeats every two seconds), while workers are killed (SIGKILL) and started
again and a second beat is started by mistake. Then:

- every forecast answered 204 was forwarded, and none twice, except one a killed worker was sending
  (sent again by the sweeper with the same X-Request-ID);
- the heartbeats went out once per slot of the negotiated interval (none doubled, few missed);
- the second beat stood by and published nothing.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from connections.choices import MessageDirection, MessageStatus, MessageType
from connections.models import Message
from groups.models import CapacityGroup
from tests.support.peer import Reply
from tests.support.processes import (
    ManagedProcess,
    celery_purge,
    start_celery_beat,
    start_celery_worker,
    start_web_server,
    wait_until,
)
from tests.support.traffic import FORWARDED, ForecastTraffic

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

HEARTBEAT_SECONDS = 2
SEND_SECONDS = 0.2  # the optimizer takes this long to answer a forecast: kills land mid-send
MID_SEND_WINDOW = 5.0  # a killed worker's batch: sends plus recording their outcome
ENV = {
    "OSCP_HEARTBEAT_DISPATCH_SECONDS": "1",
    "OSCP_OUTBOX_SWEEP_SECONDS": "1",
    "OSCP_OUTBOX_SWEEP_GRACE_SECONDS": "3",
    # A killed worker's rows are sent again after this lease; well above a live batch's duration.
    "OSCP_OUTBOX_STUCK_SECONDS": "6",
    "OSCP_RETRY_BASE_SECONDS": "0.5",
    "OSCP_RETRY_MAX_SECONDS": "1",
    "GROUP_MODE_CHECK_SECONDS": "3600",
    "MEASUREMENT_DISPATCH_SECONDS": "3600",
}


class Load(threading.Thread):
    """Forecasts at a steady rate, alternately through each web server, until stopped."""

    def __init__(self, traffic: ForecastTraffic, urls: list[str], per_second: float = 8.0):
        super().__init__(name="load", daemon=True)
        self.traffic, self.urls, self.pause = traffic, urls, 1 / per_second
        self.done = threading.Event()

    def run(self) -> None:
        sessions = {url: requests.Session() for url in self.urls}
        for url in itertools.cycle(self.urls):
            if self.done.is_set():
                return
            self.traffic.post(url, session=sessions[url])
            time.sleep(self.pause)


def mid_send(first_arrival: float, kills: list[float]) -> bool:
    return any(kill - MID_SEND_WINDOW <= first_arrival <= kill for kill in kills)


def test_many_workers_and_web_servers_deliver_everything_once(peer, transactional_db, process_log_dir):
    peer.script(FORWARDED, [Reply(204, delay=SEND_SECONDS)])
    traffic = ForecastTraffic.create(peer)
    optimizer = CapacityGroup.objects.get(identifier=traffic.group_id).capacity_optimizer
    celery_purge()
    processes: list[ManagedProcess] = []
    kills: list[float] = []

    def started(start, name: str) -> ManagedProcess:
        process = start(name=name, log_dir=process_log_dir, env=ENV)
        processes.append(process)  # stopped at the end whatever happens
        return process

    try:
        with ThreadPoolExecutor(6) as pool:  # as machines boot: all at once
            webs = [pool.submit(started, start_web_server, f"web-{n}") for n in "ab"]
            workers = [pool.submit(started, start_celery_worker, f"worker-{n}") for n in range(3)]
            beat = pool.submit(started, start_celery_beat, "beat")
            webs, workers, beat = [f.result() for f in webs], [f.result() for f in workers], beat.result()
        beat.wait_for_output("Beat holds the lock", timeout=20)

        # Heartbeats to the optimizer at a fixed phase: slot k is [start + k·interval, start + (k+1)·interval).
        heartbeats_start = timezone.now() + timedelta(seconds=1)
        optimizer.settings = {**(optimizer.settings or {}), "heartbeatSeconds": HEARTBEAT_SECONDS}
        optimizer.next_heartbeat_at = heartbeats_start
        optimizer.save(update_fields=["settings", "next_heartbeat_at"])

        load = Load(traffic, [web.url for web in webs])
        load.start()
        time.sleep(3)
        second_beat = started(start_celery_beat, "beat-by-mistake")
        second_beat.wait_for_output("standing by", timeout=20)
        for n, victim in enumerate(workers):  # one machine at a time goes down hard and comes back
            time.sleep(2)
            victim.kill()
            kills.append(time.time())
            time.sleep(2)
            started(start_celery_worker, f"worker-{n}-again")
        time.sleep(3)
        load.done.set()
        load.join(timeout=30)
        heartbeats_end = timezone.now()

        # Every forecast answered, every one forwarded.
        assert len(traffic.sent) >= 60, f"too little load: {len(traffic.sent)} forecasts"
        assert [status for _, status in traffic.answers if status != 204] == []
        wait_until(
            lambda: set(traffic.delivered()) >= set(traffic.sent),
            45,
            0.5,
            "forecasts not all forwarded",
        )
        time.sleep(2)  # anything sent twice has arrived by now
        forwarded = Message.objects.filter(direction=MessageDirection.OUTBOUND, message_type=FORWARDED)
        assert forwarded.count() == len(traffic.sent)  # one outbox row per forecast: nothing queued twice
        assert set(forwarded.values_list("status", flat=True)) == {MessageStatus.SENT}
        assert set(traffic.delivered()) == set(traffic.sent)

        # None twice, except what a killed worker was sending (then with the same X-Request-ID).
        arrivals: dict[str, list[float]] = {}
        for recorded in peer.requests_to(FORWARDED) + peer.requests_to("heartbeat"):
            arrivals.setdefault(recorded.header("X-Request-ID"), []).append(recorded.received_at)
        doubled = {request_id: times for request_id, times in arrivals.items() if len(times) > 1}
        assert all(mid_send(min(times), kills) for times in doubled.values()), (doubled, kills)

        # Heartbeats: one per slot, none doubled; nearly every slot served despite the kills.
        created = Message.objects.filter(
            partner=optimizer,
            direction=MessageDirection.OUTBOUND,
            message_type=MessageType.HEARTBEAT,
            created__lt=heartbeats_end,
        ).values_list("created", flat=True)
        slots = Counter(int((at - heartbeats_start).total_seconds() // HEARTBEAT_SECONDS) for at in created)
        assert [slot for slot, count in slots.items() if count > 1] == [], sorted(slots.items())
        complete = int((heartbeats_end - heartbeats_start).total_seconds() // HEARTBEAT_SECONDS)
        assert len([slot for slot in slots if slot < complete]) >= 0.75 * complete, (sorted(slots), complete)
        received = {recorded.header("X-Request-ID") for recorded in peer.requests_to("heartbeat")}
        assert len(received) >= len(slots) - len(kills)  # a heartbeat a killed worker held may expire

        print(
            f"{len(traffic.sent)} forecasts through {len(webs)} web servers; {len(doubled)} sent again after a "
            f"kill mid-send; {len(slots)} heartbeats, {complete} complete slots"
        )

        # The beat started by mistake stood by: it published nothing.
        assert "Sending due task" not in second_beat.output()
        assert "Sending due task" in beat.output()
        assert all(process.alive() for process in [*webs, beat, second_beat])
    finally:
        for process in processes:
            process.stop()
        celery_purge()
