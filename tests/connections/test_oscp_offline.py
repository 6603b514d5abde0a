"""An offline partner (its last offline_mode_at passed, no handshake since) must handshake again
before anything but register, handshake, handshake_acknowledge and heartbeat is accepted from it.
Its heartbeats are recorded but do not bring it back online."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connections.choices import ConnectionState, MessageStatus
from connections.models import Message, Partner
from connections.outbound import partner_handshake_start, partners_offline_check
from forecasts.models import Forecast
from tests.connections.conftest import block

pytestmark = pytest.mark.django_db

OFFLINE_MESSAGE = "handshake required after offline"


def forecast_body(group, forecast_type="CONSUMPTION"):
    return {"group_id": group.identifier, "type": forecast_type, "forecasted_blocks": [block()]}


def gone_offline(partner, *, marked=True):
    """Its announced offline_mode_at passed a minute ago; ``marked``: the periodic check ran."""
    partner.offline_mode_at = timezone.now() - timedelta(minutes=1)
    partner.save()
    if marked:
        assert partners_offline_check() == 1
    partner.refresh_from_db()
    return partner


@pytest.mark.parametrize("marked", [True, False], ids=["marked-offline", "offline-mode-at-passed"])
def test_forecast_from_an_offline_provider_is_refused_until_it_handshakes(
    oscp, provider, provider_token, group, marked
):
    gone_offline(provider, marked=marked)

    sent = oscp.post("update_group_capacity_forecast", forecast_body(group), token=provider_token)
    assert sent.status_code == 403
    assert sent.json()["message"].lower().startswith(OFFLINE_MESSAGE)
    assert "send a handshake before update_group_capacity_forecast" in sent.json()["message"]
    assert not Forecast.objects.exists()
    row = Message.objects.get(direction="in", request_id=sent.request_id)
    assert (row.status, row.http_status, row.partner_id) == (MessageStatus.REJECTED, 403, provider.id)

    assert oscp.post("handshake", {"required_behaviour": {}}, token=provider_token).status_code == 204
    assert Partner.objects.get(pk=provider.pk).connection_state == ConnectionState.ONLINE
    assert oscp.post("update_group_capacity_forecast", forecast_body(group), token=provider_token).status_code == 204
    assert Forecast.objects.count() == 1


@pytest.mark.parametrize(
    ("message", "body"),
    [
        ("update_group_capacity_forecast", lambda group: forecast_body(group, "OPTIMUM")),
        ("adjust_group_capacity_forecast", forecast_body),
        ("group_capacity_compliance_error", lambda group: {"group_id": group.identifier, "message": "cannot"}),
        ("update_group_measurements", lambda group: {"group_id": group.identifier, "measurements": []}),
        ("update_asset_measurements", lambda group: {"group_id": group.identifier, "measurements": []}),
    ],
)
def test_every_other_message_from_an_offline_optimizer_is_refused(
    oscp, optimizer, optimizer_token, group, message, body
):
    gone_offline(optimizer)
    sent = oscp.post(message, body(group), token=optimizer_token)
    assert sent.status_code == 403
    assert OFFLINE_MESSAGE in sent.json()["message"].lower()
    assert not Message.objects.filter(direction="out").exists()  # nothing relayed to the provider


def test_heartbeat_from_an_offline_partner_is_recorded_but_keeps_it_offline(oscp, provider, provider_token, group):
    gone_offline(provider)
    changed_at = provider.connection_state_changed_at

    sent = oscp.post("heartbeat", {"offline_mode_at": "2030-01-01T00:00:00Z"}, token=provider_token)
    assert sent.status_code == 204
    partner = Partner.objects.get(pk=provider.pk)
    assert partner.offline_mode_at.isoformat() == "2030-01-01T00:00:00+00:00"
    assert partner.last_heartbeat_received_at is not None
    assert partner.connection_state == ConnectionState.OFFLINE
    assert partner.connection_state_changed_at == changed_at
    # Its heartbeat announced a future offline_mode_at; it still has to handshake.
    assert oscp.post("update_group_capacity_forecast", forecast_body(group), token=provider_token).status_code == 403


def test_late_heartbeat_marks_the_partner_offline_before_the_check_does(oscp, provider, provider_token):
    gone_offline(provider, marked=False)
    assert provider.connection_state == ConnectionState.ONLINE

    assert oscp.post("heartbeat", {"offline_mode_at": "2030-01-01T00:00:00Z"}, token=provider_token).status_code == 204
    partner = Partner.objects.get(pk=provider.pk)
    assert partner.connection_state == ConnectionState.OFFLINE
    assert partner.connection_state_reason == "heartbeat received while offline; a new handshake is required"
    reasons = list(Partner.history.filter(id=provider.id).values_list("history_change_reason", flat=True)[:2])
    assert reasons[1].startswith("no heartbeat by ")


def test_heartbeat_in_time_keeps_the_partner_online(oscp, provider, provider_token):
    provider.offline_mode_at = timezone.now() + timedelta(seconds=30)
    provider.save()
    assert oscp.post("heartbeat", {"offline_mode_at": "2030-01-01T00:00:00Z"}, token=provider_token).status_code == 204
    assert Partner.objects.get(pk=provider.pk).connection_state == ConnectionState.ONLINE


def test_offline_partner_may_register_again(oscp, provider, provider_token):
    gone_offline(provider)
    body = {"token": "T-fresh-token-after-offline", "version_url": [{"version": "2.0", "base_url": provider.base_url}]}
    assert oscp.post("register", body, token=provider_token).status_code == 204
    assert Partner.objects.get(pk=provider.pk).connection_state == ConnectionState.REGISTERING


def test_acknowledgement_of_our_handshake_after_offline_brings_it_back(oscp, optimizer, optimizer_token, group):
    gone_offline(optimizer)
    partner_handshake_start(partner=optimizer)
    assert oscp.post("handshake_acknowledge", {}, token=optimizer_token).status_code == 204
    assert Partner.objects.get(pk=optimizer.pk).connection_state == ConnectionState.ONLINE
    body = {"group_id": group.identifier, "measurements": []}
    assert oscp.post("update_group_measurements", body, token=optimizer_token).status_code == 204


def test_a_request_accepted_before_going_offline_is_still_a_duplicate(oscp, provider, provider_token, group):
    first = oscp.post("update_group_capacity_forecast", forecast_body(group), token=provider_token)
    assert first.status_code == 204
    gone_offline(provider)
    again = oscp.post(
        "update_group_capacity_forecast", forecast_body(group), token=provider_token, request_id=first.request_id
    )
    assert again.status_code == 204  # already done: the partner's retry is not an error
    assert Forecast.objects.count() == 1
