"""/health/live and /health/ready: JSON detail per check, 503 naming what is wrong."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connections.choices import ConnectionState
from oscp_platform.celery import app as celery_app
from oscp_platform.health import beat_seen
from tests.connections.factories import CapacityOptimizerFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_live_answers_without_asking_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_when_everything_answers(client):
    beat_seen()
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "broker", "beat", "outbox"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["beat"]["age_seconds"] < 5


def test_not_ready_until_beat_is_seen_and_when_it_goes_quiet(client, settings):
    body = client.get("/health/ready").json()
    assert body["status"] == "error" and body["checks"]["beat"] == {
        "ok": False,
        "error": "beat never seen",
        "max_age_seconds": settings.HEALTH_BEAT_MAX_AGE_SECONDS,
    }
    beat_seen(now=timezone.now() - timedelta(seconds=settings.HEALTH_BEAT_MAX_AGE_SECONDS + 5))
    response = client.get("/health/ready")
    assert response.status_code == 503 and not response.json()["checks"]["beat"]["ok"]


def test_not_ready_when_the_outbox_falls_behind(client, settings):
    beat_seen()
    late = timezone.now() - timedelta(seconds=settings.HEALTH_OUTBOX_MAX_AGE_SECONDS + 60)
    held = CapacityOptimizerFactory(connection_state=ConnectionState.OFFLINE)
    MessageFactory(
        partner=held,
        direction="out",
        status="pending",
        message_type="update_group_capacity_forecast",
        next_attempt_at=late,
        deadline=timezone.now() + timedelta(hours=1),
    )
    assert client.get("/health/ready").status_code == 200  # waiting for its partner, not for us

    MessageFactory(direction="out", status="pending", message_type="heartbeat", next_attempt_at=late)
    response = client.get("/health/ready")
    outbox = response.json()["checks"]["outbox"]
    assert response.status_code == 503 and not outbox["ok"]
    assert outbox["oldest_due_age_seconds"] >= settings.HEALTH_OUTBOX_MAX_AGE_SECONDS + 60


def test_not_ready_when_the_broker_is_unreachable(client, monkeypatch):
    beat_seen()
    connect = celery_app.connection_for_write
    monkeypatch.setattr(celery_app, "connection_for_write", lambda *a, **kw: connect("redis://127.0.0.1:1/0"))
    response = client.get("/health/ready")
    broker = response.json()["checks"]["broker"]
    assert response.status_code == 503 and broker["ok"] is False and "Error" in broker["error"]
