"""The message log: what is recorded, the admin, the management API and retention."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from connections.models import Message
from connections.outbox import outbox_enqueue
from connections.tasks import messages_prune
from tests.connections.conftest import block
from tests.connections.factories import CapacityProviderFactory, MessageFactory

pytestmark = pytest.mark.django_db

URL = "/solaruser/api/v1/sec/user/oscp/messages"


def test_accepted_request_is_logged_with_masked_headers(oscp, group, provider, provider_token):
    body = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]}
    sent = oscp.post(
        "update_group_capacity_forecast",
        body,
        token=provider_token,
        headers={"X-Correlation-ID": "c-1", "apikey": "static-api-key-123456"},
    )
    row = Message.objects.get(direction="in")
    assert (row.partner, row.group, row.direction, row.message_type) == (
        provider,
        group,
        "in",
        "update_group_capacity_forecast",
    )
    assert (row.request_id, row.correlation_id, row.status, row.http_status) == (
        sent.request_id,
        "c-1",
        "accepted",
        204,
    )
    assert row.body == body
    assert row.headers["Authorization"] == "Token ••••" + provider_token[-4:]
    assert row.headers["Apikey"] == "••••3456"
    assert provider_token not in json.dumps(row.headers) and "static-api-key" not in json.dumps(row.headers)
    assert row.duration_ms is not None


def test_unknown_token_is_masked_too(oscp):
    oscp.post("heartbeat", {}, token="guessed-token-value-9999")
    row = Message.objects.get()
    assert row.headers["Authorization"] == "Token ••••9999"


def test_api_lists_own_messages_newest_first(oscp, api_client, user, group, provider_token):
    mine = CapacityProviderFactory(owner=user)
    MessageFactory(partner=mine, request_id="a")
    MessageFactory(partner=mine, message_type="handshake", request_id="b", status="rejected")
    oscp.post("heartbeat", {"offline_mode_at": "2030-01-01T00:00:00Z"}, token=provider_token)  # other account
    response = api_client.get(URL)
    assert response.status_code == 200
    assert response["X-Total-Count"] == "2"
    data = response.json()["data"]
    assert [m["requestId"] for m in data] == ["b", "a"]
    assert data[0]["partnerId"] == mine.id and data[0]["created"].endswith("Z")
    assert "sealedBody" not in data[0] and "sealed_body" not in data[0]


def test_api_filters(api_client, user):
    cp = CapacityProviderFactory(owner=user)
    old = MessageFactory(partner=cp, request_id="old")
    Message.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=3))
    MessageFactory(partner=cp, direction="out", message_type="register", request_id="out", status="pending")
    MessageFactory(partner=cp, request_id="bad", status="rejected")

    def ids(query):
        response = api_client.get(URL + query)
        assert response.status_code == 200, response.json()
        return sorted(m["requestId"] for m in response.json()["data"])

    assert ids("?direction=out") == ["out"]
    assert ids("?type=heartbeat&status=rejected") == ["bad"]
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%SZ")
    assert ids(f"?since={since}") == ["bad", "out"]
    assert ids(f"?until={since}") == ["old"]
    assert ids(f"?partner={cp.id}&max=1") in (["bad"], ["out"])


def test_api_bad_filter_names_the_field(api_client):
    response = api_client.get(URL + "?since=yesterday")
    assert response.status_code == 400
    assert "since" in response.json()["message"]


def test_api_detail_of_other_account_is_404(api_client, other_user):
    theirs = CapacityProviderFactory(owner=other_user)
    row = MessageFactory(partner=theirs)
    assert api_client.get(f"{URL}/{row.id}").status_code == 404


def test_api_requires_authentication(client):
    assert client.get(URL).status_code in (401, 403)


def test_admin_changelist_read_only_and_searchable(client, provider, django_assert_max_num_queries):
    admin_user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456")
    client.force_login(admin_user)
    for i in range(20):
        MessageFactory(partner=provider, request_id=f"r{i}")
    with django_assert_max_num_queries(12):
        response = client.get("/admin/connections/message/")
    assert response.status_code == 200
    response = client.get("/admin/connections/message/?q=r7")
    assert b"r7" in response.content and b">r8<" not in response.content
    row = Message.objects.first()
    assert client.get(f"/admin/connections/message/{row.id}/change/").status_code == 200
    assert client.post(f"/admin/connections/message/{row.id}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/connections/messagesegment/").status_code == 200


@override_settings(OSCP_MESSAGE_RETENTION_DAYS=30)
def test_prune_removes_old_rows_but_never_unsent_outbound(provider):
    def row(request_id, direction, status, age_days):
        message = MessageFactory(partner=provider, direction=direction, request_id=request_id, status=status)
        Message.objects.filter(pk=message.pk).update(created=timezone.now() - timedelta(days=age_days))

    row("old-in", "in", "accepted", 31)
    row("old-sent", "out", "sent", 31)
    row("old-pending", "out", "pending", 31)
    row("old-retrying", "out", "failed", 31)
    row("recent", "in", "accepted", 29)
    assert messages_prune() == 2
    assert sorted(Message.objects.values_list("request_id", flat=True)) == ["old-pending", "old-retrying", "recent"]


def test_sealed_body_is_encrypted_and_not_in_body(provider):
    message = outbox_enqueue(
        partner=provider, message_type="register", body={"token": "••••abcd"}, sealed_body='{"token": "xyzabcd"}'
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed_body FROM connections_message WHERE id = %s", [message.id])
        assert "xyzabcd" not in cursor.fetchone()[0]
