"""The metrics endpoint shows the outbox draining after a peer outage: forecasts forwarded to an
optimizer that answers 500 wait as pending, then go out once it answers again."""

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import wait_until
from tests.support.traffic import FORWARDED, ForecastTraffic

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def process_settings():
    return {"OSCP_RETRY_BASE_SECONDS": "0.5", "OSCP_RETRY_MAX_SECONDS": "1"}


def outbox(url: str) -> dict[str, float]:
    text = requests.get(url + "/metrics", timeout=10).text
    return {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "oscp_outbox_messages"
        for sample in family.samples
    }


def test_metrics_show_the_outbox_draining_after_a_peer_outage(peer, web_server, worker_factory):
    worker_factory(concurrency=1)
    peer.script(FORWARDED, [500] * 12 + [204])
    traffic = ForecastTraffic.create(peer)
    for _ in range(4):
        assert traffic.post(web_server.url) == 204
    during = wait_until(lambda: outbox(web_server.url).get("pending", 0) >= 1 and outbox(web_server.url), 15)
    assert during.get("sent", 0) < 4
    after = wait_until(lambda: (m := outbox(web_server.url)).get("sent") == 4 and m, 40, 0.5, "outbox never drained")
    assert after.get("pending", 0) == 0 and after.get("sending", 0) == 0
    assert sorted(set(traffic.delivered())) == sorted(traffic.sent)
