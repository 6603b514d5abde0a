"""Envelope webhook subscriptions (secret write-only, shown once) and the outbox rows fired when
the envelope in force changes."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from connections.models import Message
from forecasts.models import EnvelopeSubscription
from forecasts.services import group_mode_refresh, subscription_create
from tests.forecasts.conftest import T0, blocks

pytestmark = pytest.mark.django_db
URL = "/solaruser/api/v1/sec/user/oscp/envelope-subscriptions"
Q = timedelta(minutes=15)


def test_create_shows_the_secret_once(api_client, group):
    response = api_client.post(URL, {"groupId": group.id, "url": "https://tool.example.com/hook"}, format="json")
    assert response.status_code == 201
    created = response.json()["data"]
    assert len(created["secret"]) >= 32
    shown = api_client.get(f"{URL}/{created['configId']}").json()["data"]
    assert "secret" not in shown and shown["url"] == "https://tool.example.com/hook"
    assert "secret" not in api_client.get(URL).json()["data"][0]
    subscription = EnvelopeSubscription.objects.get()
    assert subscription.secret == created["secret"]
    assert not hasattr(subscription.history.first(), "secret")


def test_update_and_delete(api_client, group):
    subscription, _ = subscription_create(group=group, url="https://a.example.com/h")
    response = api_client.patch(f"{URL}/{subscription.id}", {"enabled": False}, format="json")
    assert response.json()["data"]["enabled"] is False
    assert api_client.delete(f"{URL}/{subscription.id}").status_code == 200
    assert not EnvelopeSubscription.objects.exists()


def test_bad_subscription_is_a_400_and_writes_nothing(api_client, other_user, group):
    from tests.groups.factories import CapacityGroupFactory

    foreign = CapacityGroupFactory(owner=other_user, capacity_provider__owner=other_user)
    response = api_client.post(URL, {"groupId": foreign.id, "url": "ftp://x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"groupId", "url"}
    assert not EnvelopeSubscription.objects.exists()


def test_other_accounts_cannot_see_subscriptions(other_api_client, group):
    subscription, _ = subscription_create(group=group, url="https://a.example.com/h")
    assert other_api_client.get(f"{URL}/{subscription.id}").status_code == 404
    assert other_api_client.get(URL).json()["data"] == []


def webhook_rows():
    return list(Message.objects.filter(message_type="envelope_changed").order_by("id"))


def test_change_in_force_queues_one_signed_delivery_per_subscription(group, receive, at_time):
    subscription, secret = subscription_create(group=group, url="https://a.example.com/h")
    subscription_create(group=group, url="https://b.example.com/h", enabled=False)
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(capacity=10))
    [row] = webhook_rows()
    assert row.url == subscription.url and row.partner is None and row.status == "pending"
    envelope = row.body["envelope"]
    assert row.body["event"] == "envelope_changed"
    assert (envelope["microgridId"], envelope["mode"], envelope["importLimits"][0]["value"]) == ("mg-7", "normal", 10.0)
    assert "oscp" not in json.dumps(row.body).lower() and secret not in json.dumps(row.body)
    # What goes out: the body's exact bytes, signed with HMAC-SHA256 of the subscription's secret.
    assert json.loads(row.sealed_body) == row.body
    signature = hmac.new(secret.encode(), row.sealed_body.encode(), hashlib.sha256).hexdigest()
    assert json.loads(row.sealed_headers) == {"X-Signature": f"sha256={signature}"}


def test_no_delivery_when_the_envelope_in_force_does_not_change(group, receive, at_time):
    subscription_create(group=group, url="https://a.example.com/h")
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(capacity=10))
    receive(group, "CONSUMPTION", blocks(capacity=10))  # same limits again
    receive(group, "CONSUMPTION", blocks(start=T0 + Q, capacity=3))  # only the future changes
    group_mode_refresh(group_id=group.id, now=T0 + timedelta(minutes=5))
    assert len(webhook_rows()) == 1


def test_periodic_check_fires_when_the_next_block_starts(group, receive, at_time):
    subscription_create(group=group, url="https://a.example.com/h")
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(capacity=[10, 4]))
    group_mode_refresh(group_id=group.id, now=T0 + Q)
    rows = webhook_rows()
    assert [r.body["envelope"]["importLimits"][0]["value"] for r in rows] == [10.0, 4.0]
