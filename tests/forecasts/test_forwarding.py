"""Forecasts for a group with a Capacity Optimizer are forwarded to it unchanged."""

import pytest
from django.utils.dateparse import parse_datetime

from connections.models import Message
from forecasts.models import AdjustmentRequest, Envelope
from tests.connections.factories import CapacityOptimizerFactory, MessageFactory
from tests.forecasts.conftest import blocks

pytestmark = pytest.mark.django_db


@pytest.fixture
def optimizer(group):
    group.capacity_optimizer = CapacityOptimizerFactory(owner=group.owner)
    group.save()
    return group.capacity_optimizer


def forwarded():
    return list(Message.objects.filter(message_type="update_group_capacity_forecast", direction="out"))


def inbound_message(group, body, request_id):
    return MessageFactory(
        partner=group.capacity_provider,
        group=group,
        message_type="update_group_capacity_forecast",
        request_id=request_id,
        body=body,
    )


def test_provider_forecast_is_forwarded_with_same_content_and_request_id(group, optimizer, receive):
    received = blocks(capacity=10)
    message = inbound_message(group, {"group_id": group.identifier}, "cp-req-1")
    receive(group, "CONSUMPTION", received, request_id="cp-req-1", message=message)
    [row] = forwarded()
    assert (row.partner, row.request_id) == (optimizer, "cp-req-1")
    assert row.body["group_id"] == group.identifier and row.body["type"] == "CONSUMPTION"
    sent = row.body["forecasted_blocks"]
    assert [(b["capacity"], b["phase"], b["unit"]) for b in sent] == [
        (float(b["capacity"]), b["phase"], b["unit"]) for b in received
    ]
    # The same instants, in our strict wire form: UTC with ``Z``.
    assert [(parse_datetime(b["start_time"]), parse_datetime(b["end_time"])) for b in sent] == [
        (b["start_time"], b["end_time"]) for b in received
    ]
    assert all(b["start_time"].endswith("Z") for b in sent)


@pytest.mark.parametrize(
    "kind", ["CONSUMPTION", "GENERATION", "FALLBACK_CONSUMPTION", "FALLBACK_GENERATION", "OPTIMUM"]
)
def test_every_kind_from_the_provider_is_forwarded(group, optimizer, receive, kind):
    receive(group, kind, blocks(capacity=5), request_id="r-1")
    [row] = forwarded()
    assert row.body["type"] == kind and row.body["forecasted_blocks"][0]["capacity"] == 5.0


def test_optimum_from_the_optimizer_is_not_sent_back(group, optimizer, receive):
    receive(group, "OPTIMUM", blocks(capacity=5), sender=optimizer)
    assert forwarded() == []
    assert Envelope.objects.filter(group=group, quantity="optimum").count() == 1


def test_no_optimizer_no_forwarding(group, receive):
    receive(group, "CONSUMPTION", blocks())
    assert forwarded() == []


def test_optimizer_adjustment_is_relayed_to_the_provider(group, optimizer, receive):
    receive(
        group,
        "CONSUMPTION",
        blocks(capacity=30),
        sender=optimizer,
        request_id="co-adj-1",
        message_type="adjust_group_capacity_forecast",
        correlation_id="cp-req-1",
    )
    relay = Message.objects.get(message_type="adjust_group_capacity_forecast", direction="out")
    assert (relay.partner, relay.request_id, relay.correlation_id) == (group.capacity_provider, "co-adj-1", "cp-req-1")
    assert AdjustmentRequest.objects.get().relayed_from == optimizer
    assert not Envelope.objects.filter(group=group).exists()
