"""Fixtures for the connections tests. Inbound: registered partners with live tokens, a group they share,
and a client that posts OSCP messages with the protocol headers."""

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from connections.choices import ConnectionState, MessageDirection, MessageStatus, RegistrationStatus
from connections.models import Message
from connections.services import inbound_token_issue
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory, UserFactory
from tests.groups.factories import CapacityGroupFactory

BASE = "/oscp/fp/2.0/"


@dataclass
class Sent:
    response: object
    request_id: str

    @property
    def status_code(self):
        return self.response.status_code

    def json(self):
        return self.response.json()


class OscpClient:
    """Posts like a partner: ``Authorization: Token``, a fresh ``X-Request-ID`` unless given."""

    def __init__(self):
        self.client = Client()

    def post(self, message, body, *, token=None, request_id=None, headers=None, raw=None) -> Sent:
        request_id = str(uuid.uuid4()) if request_id is None else request_id
        extra = {}
        if token is not None:
            extra["Authorization"] = f"Token {token}"
        if request_id:
            extra["X-Request-ID"] = request_id
        extra.update(headers or {})
        data = raw if raw is not None else json.dumps(body)
        response = self.client.post(BASE + message, data=data, content_type="application/json", headers=extra)
        return Sent(response=response, request_id=request_id)


@pytest.fixture
def oscp():
    return OscpClient()


@pytest.fixture
def owner(db):
    return UserFactory()


def _registered(factory, owner):
    return factory(
        owner=owner,
        connection_state=ConnectionState.ONLINE,
        registration_status=RegistrationStatus.REGISTERED,
        partner_token="their-token-for-us-0001",
    )


@pytest.fixture
def provider(owner):
    return _registered(CapacityProviderFactory, owner)


@pytest.fixture
def provider_token(provider):
    return inbound_token_issue(partner=provider)


@pytest.fixture
def optimizer(owner):
    return _registered(CapacityOptimizerFactory, owner)


@pytest.fixture
def optimizer_token(optimizer):
    return inbound_token_issue(partner=optimizer)


@pytest.fixture
def group(provider, optimizer):
    return CapacityGroupFactory(owner=provider.owner, capacity_provider=provider, capacity_optimizer=optimizer)


def block(start="2024-05-01T00:00:00Z", end="2024-05-01T01:00:00Z", capacity=10.5, phase="ALL", unit="KW"):
    return {"capacity": capacity, "phase": phase, "unit": unit, "start_time": start, "end_time": end}


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
