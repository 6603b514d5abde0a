"""Partner authentication, X-Request-ID, role rules and group ownership on the OSCP endpoints."""

import pytest

from connections.choices import MessageStatus
from connections.models import Message
from connections.services import inbound_token_issue, partner_token_rotate
from forecasts.models import Forecast
from tests.connections.conftest import block
from tests.connections.factories import CapacityProviderFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db


def heartbeat():
    return {"offline_mode_at": "2030-01-01T00:00:00Z"}


def test_missing_authorization_is_401_and_logged_without_partner(oscp):
    sent = oscp.post("heartbeat", heartbeat())
    assert sent.status_code == 401
    assert "Authorization" in sent.json()["message"]
    row = Message.objects.get()
    assert (row.partner, row.status, row.http_status) == (None, MessageStatus.REJECTED, 401)


def test_other_scheme_is_401(oscp, provider_token):
    sent = oscp.post("heartbeat", heartbeat(), headers={"Authorization": f"Basic {provider_token}"})
    assert sent.status_code == 401


@pytest.mark.parametrize("scheme", ["Token", "token", "TOKEN", "Bearer", "bearer"])
def test_token_and_bearer_schemes_any_case(oscp, provider, provider_token, scheme):
    sent = oscp.post("heartbeat", heartbeat(), headers={"Authorization": f"{scheme} {provider_token}"})
    assert sent.status_code == 204, sent.response.content
    provider.refresh_from_db()
    assert provider.offline_mode_at.year == 2030


def test_unknown_token_is_403(oscp, provider_token):
    sent = oscp.post("heartbeat", heartbeat(), token=provider_token + "x")
    assert sent.status_code == 403
    assert Message.objects.get().partner is None


def test_retired_token_is_403(oscp, provider, provider_token):
    new = partner_token_rotate(partner=provider)
    assert oscp.post("heartbeat", heartbeat(), token=provider_token).status_code == 403
    assert oscp.post("heartbeat", heartbeat(), token=new).status_code == 204


def test_disabled_partner_is_403_and_nothing_recorded(oscp, provider, provider_token):
    provider.enabled = False
    provider.save()
    sent = oscp.post("heartbeat", heartbeat(), token=provider_token)
    assert sent.status_code == 403
    assert "disabled" in sent.json()["message"]
    provider.refresh_from_db()
    assert provider.last_heartbeat_received_at is None
    assert Message.objects.get().partner == provider


def test_missing_request_id_is_400(oscp, provider, provider_token):
    sent = oscp.post("heartbeat", heartbeat(), token=provider_token, request_id="")
    assert sent.status_code == 400
    assert sent.json() == {"message": "X-Request-ID header is required."}
    provider.refresh_from_db()
    assert provider.last_heartbeat_received_at is None


@pytest.mark.parametrize(
    "message",
    [
        "adjust_group_capacity_forecast",
        "group_capacity_compliance_error",
        "update_group_measurements",
        "update_asset_measurements",
    ],
)
def test_provider_may_not_send_optimizer_messages(oscp, group, provider_token, message):
    body = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()], "measurements": []}
    sent = oscp.post(message, body, token=provider_token)
    assert sent.status_code == 403
    assert "Capacity Provider may not send" in sent.json()["message"]
    assert not Message.objects.filter(direction="out").exists()


def test_optimizer_forecast_must_be_optimum(oscp, group, optimizer_token):
    body = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]}
    sent = oscp.post("update_group_capacity_forecast", body, token=optimizer_token)
    assert sent.status_code == 403
    assert not Forecast.objects.exists()
    body["type"] = "OPTIMUM"
    assert oscp.post("update_group_capacity_forecast", body, token=optimizer_token).status_code == 204
    assert Forecast.objects.get().type == "OPTIMUM"


def test_group_of_another_provider_is_404_like_unknown(oscp, provider_token):
    foreign = CapacityGroupFactory(identifier="theirs")
    body = {"group_id": foreign.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]}
    sent = oscp.post("update_group_capacity_forecast", body, token=provider_token)
    unknown = oscp.post("update_group_capacity_forecast", {**body, "group_id": "nowhere"}, token=provider_token)
    assert sent.status_code == unknown.status_code == 404
    assert sent.json()["message"].replace("theirs", "X") == unknown.json()["message"].replace("nowhere", "X")
    assert not Forecast.objects.exists()


def test_same_identifier_in_another_account_does_not_leak(oscp, group, provider_token):
    other = CapacityProviderFactory()
    inbound_token_issue(partner=other)
    CapacityGroupFactory(identifier=group.identifier, capacity_provider=other, owner=other.owner)
    body = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]}
    assert oscp.post("update_group_capacity_forecast", body, token=provider_token).status_code == 204
    assert Forecast.objects.get().group == group


def test_duplicate_request_id_has_no_second_effect(oscp, group, provider_token):
    body = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]}
    first = oscp.post("update_group_capacity_forecast", body, token=provider_token, request_id="req-1")
    again = oscp.post("update_group_capacity_forecast", body, token=provider_token, request_id="req-1")
    assert first.status_code == again.status_code == 204
    assert again.response.content == b""
    assert Forecast.objects.count() == 1
    statuses = list(Message.objects.filter(direction="in").order_by("id").values_list("status", flat=True))
    assert statuses == [MessageStatus.ACCEPTED, MessageStatus.DUPLICATE]


def test_same_request_id_from_two_partners_is_two_messages(oscp, group, provider_token, optimizer_token):
    body = {"group_id": group.identifier, "type": "OPTIMUM", "forecasted_blocks": [block()]}
    oscp.post("update_group_capacity_forecast", body, token=provider_token, request_id="shared")
    oscp.post("update_group_capacity_forecast", body, token=optimizer_token, request_id="shared")
    assert Forecast.objects.count() == 2


def test_rejected_request_id_may_be_sent_again(oscp, group, provider_token):
    body = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": []}
    assert oscp.post("update_group_capacity_forecast", body, token=provider_token, request_id="r").status_code == 400
    body["forecasted_blocks"] = [block()]
    assert oscp.post("update_group_capacity_forecast", body, token=provider_token, request_id="r").status_code == 204
    assert Forecast.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_are_processed_once(group, provider_token):
    """Eight partners' retries of one request at the same moment: one forecast, all 204."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from tests.connections.conftest import OscpClient

    body = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]}

    def send(_):
        try:
            return (
                OscpClient()
                .post("update_group_capacity_forecast", body, token=provider_token, request_id="same")
                .status_code
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(8)))
    assert statuses == [204] * 8
    assert Forecast.objects.count() == 1
    assert Message.objects.filter(status=MessageStatus.ACCEPTED).count() == 1
