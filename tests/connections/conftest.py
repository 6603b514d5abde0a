"""Fixtures for the outbound tests (client, outbox, lifecycle, heartbeats)."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from connections.choices import MessageDirection, MessageStatus
from connections.models import Message


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_message(db):
    """An outbound message row, due now (the outbox task is not queued)."""

    def make(partner=None, message_type="heartbeat", body=None, **fields):
        values = {
            "partner": partner,
            "direction": MessageDirection.OUTBOUND,
            "message_type": message_type,
            "request_id": str(uuid.uuid4()),
            "status": MessageStatus.PENDING,
            "body": body if body is not None else {},
            "next_attempt_at": timezone.now(),
            "deadline": timezone.now() + timedelta(hours=1),
        }
        values.update(fields)
        return Message.objects.create(**values)

    return make
