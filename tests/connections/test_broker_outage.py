"""A broker outage never changes a partner's answer: the message was committed, so the request is
answered as usual, a warning is logged, and the outbox sweeper publishes it later."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from connections.models import Message
from connections.outbox import outbox_sweep
from oscp_platform.celery import app as celery_app
from tests.connections.conftest import block

# The on-commit publish must run inside the request, as in production: real commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(celery_app, "send_task", refuse)


def test_committed_forecast_is_answered_204_when_the_publish_fails(oscp, group, provider_token, broker_down, caplog):
    body = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]}
    with caplog.at_level(logging.WARNING, logger="oscp_platform.broker"):
        sent = oscp.post("update_group_capacity_forecast", body, token=provider_token)
    assert sent.status_code == 204
    forwarded = Message.objects.get(direction="out", message_type="update_group_capacity_forecast")
    assert forwarded.status == "pending" and forwarded.request_id == sent.request_id
    [warning] = [r for r in caplog.records if r.name == "oscp_platform.broker"]
    assert warning.levelno == logging.WARNING
    assert f"connections.messages_send[[{forwarded.id}]] not published" in warning.getMessage()
    assert "sweeper" in warning.getMessage()


def test_the_sweeper_publishes_what_the_outage_left(oscp, group, provider_token, broker_down, monkeypatch, settings):
    body = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]}
    assert oscp.post("update_group_capacity_forecast", body, token=provider_token).status_code == 204
    forwarded = Message.objects.get(direction="out", message_type="update_group_capacity_forecast")

    published = []  # the broker is back
    monkeypatch.setattr(celery_app, "send_task", lambda name, args=(), **kw: published.append((name, args)))
    later = timezone.now() + timedelta(seconds=settings.OSCP_OUTBOX_SWEEP_GRACE_SECONDS + 1)
    assert outbox_sweep(now=later) == 1
    assert published == [("connections.messages_send", ([forwarded.id],))]
