"""/metrics: Prometheus text with the outbox, partners, groups, forecasts, sends and requests."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from connections.choices import ConnectionState
from tests.connections.factories import CapacityOptimizerFactory, MessageFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict[tuple, float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_outbox_partners_and_groups_read_from_the_database(client):
    optimizer = CapacityOptimizerFactory(connection_state=ConnectionState.ONLINE)
    late = timezone.now() - timedelta(seconds=90)
    for status in ("pending", "pending", "sent", "dead"):
        MessageFactory(partner=optimizer, direction="out", status=status, next_attempt_at=late)
    CapacityGroupFactory(mode="normal")
    samples = scrape(client)
    assert samples[("oscp_outbox_messages", (("status", "pending"),))] == 2
    assert samples[("oscp_outbox_messages", (("status", "dead"),))] == 1
    assert 85 <= samples[("oscp_outbox_oldest_due_age_seconds", ())] < 200
    assert samples[("oscp_partners", (("role", "CapacityOptimizer"), ("state", "online")))] == 1
    assert samples[("oscp_groups", (("mode", "normal"),))] == 1


def test_request_latencies_by_route(client):
    client.get("/health/live")
    samples = scrape(client)
    key = ("oscp_http_request_duration_seconds_count", (("method", "GET"), ("route", "health/live"), ("status", "200")))
    assert samples[key] >= 1


def test_sends_and_forecasts_are_counted(client):
    from connections.metrics import sends_observe
    from forecasts.metrics import FORECASTS_RECEIVED

    before = scrape(client)
    sends_observe([(7, "update_group_measurements", "sent", 120), (7, "update_group_measurements", "retry", None)])
    FORECASTS_RECEIVED.labels("CONSUMPTION", "update_group_capacity_forecast").inc()
    after = scrape(client)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    sent = {"partner": "7", "message_type": "update_group_measurements"}
    assert grew("oscp_outbox_sends_total", **sent, outcome="sent") == 1
    assert grew("oscp_outbox_sends_total", **sent, outcome="retry") == 1
    assert grew("oscp_outbox_send_duration_seconds_count", partner="7") == 1
    assert grew("oscp_forecasts_received_total", type="CONSUMPTION", message_type="update_group_capacity_forecast") == 1


def test_metrics_token(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer scrape-secret")
