"""What the outbox and the heartbeat dispatcher cost the database: a fixed number of statements per
batch, however many messages or partners are in it. A change that adds a query per row fails here."""

import re

import pytest
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections import outbox
from connections.choices import ConnectionState, MessageStatus, RegistrationStatus
from connections.models import Message
from connections.outbound import heartbeats_dispatch
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def statements(captured) -> list[str]:
    """The statements run, without the savepoints of the test's own transaction."""
    return [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def _partners(count: int, **fields):
    values = {
        "registration_status": RegistrationStatus.REGISTERED,
        "connection_state": ConnectionState.ONLINE,
        "partner_token": "their-token-for-us-0001",
        "settings": {"heartbeatSeconds": 60},
        **fields,
    }
    factories = (CapacityProviderFactory, CapacityOptimizerFactory)
    return [factories[i % 2](base_url=f"https://p{i}.example.com/oscp/2.0", **values) for i in range(count)]


@responses.activate
@pytest.mark.parametrize("size", [1, 20])
def test_a_batch_is_claimed_and_recorded_in_two_statements(size, make_message, published):
    responses.post(re.compile(r"https://p\d+\.example\.com/oscp/2\.0/heartbeat"), status=204)
    ids = [make_message(partner).id for partner in _partners(size)]

    with CaptureQueriesContext(connection) as captured:
        assert outbox.messages_deliver(message_ids=ids) == size

    assert len(statements(captured)) == 2  # claim (UPDATE … RETURNING, partners joined), record
    assert len(responses.calls) == size
    assert set(Message.objects.filter(id__in=ids).values_list("status", flat=True)) == {MessageStatus.SENT}


@responses.activate
def test_a_batch_with_failures_still_costs_two_statements(make_message, published):
    responses.post(re.compile(r"https://p0\.example\.com/.*"), status=503)
    responses.post(re.compile(r"https://p1\.example\.com/.*"), status=400)
    responses.post(re.compile(r"https://p2\.example\.com/.*"), status=204)
    retry, dead, sent = (make_message(partner) for partner in _partners(3))

    with CaptureQueriesContext(connection) as captured:
        outbox.messages_deliver(message_ids=[retry.id, dead.id, sent.id])

    assert len(statements(captured)) == 2
    statuses = dict(Message.objects.filter(id__in=[retry.id, dead.id, sent.id]).values_list("id", "status"))
    assert statuses == {retry.id: MessageStatus.PENDING, dead.id: MessageStatus.DEAD, sent.id: MessageStatus.SENT}
    assert [call.args[0] for call in published if call.countdown > 0] == [[retry.id]]  # retried later


@pytest.mark.parametrize("size", [1, 30])
def test_a_heartbeat_batch_costs_three_statements(size, published, django_capture_on_commit_callbacks):
    _partners(size)

    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
        assert heartbeats_dispatch(now=timezone.now()) == size

    # Due partners locked (SKIP LOCKED), their schedules moved on, the heartbeats inserted.
    assert len(statements(captured)) == 3
    assert sorted(published.ids()) == sorted(Message.objects.values_list("id", flat=True))
    assert len(published) == 1  # published as one batch, not a task per heartbeat
