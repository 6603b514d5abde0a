"""What we start: registering with a partner and handshakes, through services, the management API
and the admin; plus manual retry of dead messages (API and admin)."""

import json

import pytest
import responses
from django.urls import reverse

from connections.choices import ConnectionState, MessageStatus, RegistrationStatus
from connections.models import InboundToken, Message
from connections.outbound import partner_handshake_start, partner_register
from connections.outbox import messages_deliver
from connections.selectors import partner_for_token
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory, MessageFactory

API = "/solaruser/api/v1/sec/user/oscp"


@pytest.fixture
def provider(user):
    return CapacityProviderFactory(owner=user, partner_token="initial-token-from-cp-9999")


def test_register_sends_our_new_token_masked_in_the_log(provider, settings):
    settings.OSCP_PUBLIC_BASE_URL = "https://fp.example.com/oscp/fp/2.0"
    message = partner_register(partner=provider)

    sealed = json.loads(message.sealed_body)
    assert partner_for_token(token=sealed["token"]) == provider  # the partner can call us with it
    assert sealed["version_url"] == [{"version": "2.0", "base_url": "https://fp.example.com/oscp/fp/2.0"}]
    assert message.body["token"].startswith("••••") and sealed["token"] not in json.dumps(message.body)
    assert message.message_type == "register" and message.correlation_id == ""
    provider.refresh_from_db()
    assert provider.connection_state == ConnectionState.REGISTERING
    assert provider.registration_status == RegistrationStatus.PENDING
    assert provider.history.first().history_change_reason == "registering: register sent"


@responses.activate
def test_our_register_refused_for_good_fails_and_its_token_never_works(provider, django_capture_on_commit_callbacks):
    provider.base_url = "https://cp.example.com/oscp/cp/2.0"
    provider.save()
    message = partner_register(partner=provider)
    responses.post("https://cp.example.com/oscp/cp/2.0/register", status=401, json={"message": "bad token"})
    with django_capture_on_commit_callbacks(execute=True):
        messages_deliver(message_ids=[message.id])

    message.refresh_from_db()
    provider.refresh_from_db()
    assert message.status == MessageStatus.DEAD
    assert (provider.registration_status, provider.connection_state) == ("Failed", "failed")
    assert provider.connection_state_reason.startswith(f"register {message.request_id} failed: ")
    assert partner_for_token(token=json.loads(message.sealed_body)["token"]) is None


def test_register_api(api_client, provider):
    response = api_client.post(f"{API}/capacity-providers/{provider.id}/register")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["connectionState"] == "registering" and data["registrationStatus"] == "Pending"
    assert data["message"]["messageType"] == "register" and data["message"]["status"] == "pending"
    assert "initial-token" not in response.content.decode()


def test_register_without_the_partners_token_is_400_and_writes_nothing(api_client, user):
    partner = CapacityOptimizerFactory(owner=user, partner_token="")
    response = api_client.post(f"{API}/capacity-optimizers/{partner.id}/register")
    assert response.status_code == 400
    assert "partnerToken" in response.json()["message"]
    assert not Message.objects.exists() and not InboundToken.objects.exists()
    partner.refresh_from_db()
    assert partner.connection_state == ConnectionState.NEW


def test_register_api_only_for_own_partners_of_that_role(api_client, other_api_client, provider):
    assert other_api_client.post(f"{API}/capacity-providers/{provider.id}/register").status_code == 404
    assert api_client.post(f"{API}/capacity-optimizers/{provider.id}/register").status_code == 404
    assert not Message.objects.exists()


def test_handshake_sends_what_we_require_on_the_wire(user):
    partner = CapacityOptimizerFactory(
        owner=user,
        connection_state=ConnectionState.REGISTERED,
        required_heartbeat_seconds=60,
        required_measurement_styles=["Continuous", "Intermittent"],
    )
    message = partner_handshake_start(partner=partner)
    assert message.body == {
        "required_behaviour": {"heartbeat_interval": 60, "measurement_configuration": ["CONTINUOUS", "INTERMITTENT"]}
    }
    partner.refresh_from_db()
    assert partner.connection_state == ConnectionState.HANDSHAKING


def test_handshake_api_for_both_roles(api_client, user):
    provider = CapacityProviderFactory(owner=user, connection_state=ConnectionState.ONLINE)
    optimizer = CapacityOptimizerFactory(owner=user, connection_state=ConnectionState.REGISTERED)
    for kind, partner in (("capacity-providers", provider), ("capacity-optimizers", optimizer)):
        response = api_client.post(f"{API}/{kind}/{partner.id}/handshake")
        assert response.status_code == 200, response.content
        assert response.json()["data"]["connectionState"] == "handshaking"
    assert Message.objects.filter(message_type="handshake").count() == 2


def test_handshake_while_registering_is_refused(api_client, user):
    partner = CapacityProviderFactory(owner=user, connection_state=ConnectionState.REGISTERING)
    response = api_client.post(f"{API}/capacity-providers/{partner.id}/handshake")
    assert response.status_code == 400 and "connectionState" in response.json()["message"]
    assert not Message.objects.exists()


def _dead_message(partner):
    return MessageFactory(partner=partner, direction="out", request_id="r-1", status=MessageStatus.DEAD)


def test_retry_api(api_client, other_api_client, provider):
    message = _dead_message(provider)
    assert other_api_client.post(f"{API}/messages/{message.id}/retry").status_code == 404
    response = api_client.post(f"{API}/messages/{message.id}/retry")
    assert response.status_code == 200
    assert response.json()["data"]["message"]["status"] == "pending"
    again = api_client.post(f"{API}/messages/{message.id}/retry")
    assert again.status_code == 400 and again.json()["message"].startswith("status:")


def test_admin_actions_register_and_handshake(admin_client, provider):
    url = reverse("admin:connections_capacityprovider_changelist")
    response = admin_client.post(url, {"action": "register_with_partner", "_selected_action": [provider.id]})
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.connection_state == ConnectionState.REGISTERING
    page = admin_client.get(reverse("admin:connections_capacityprovider_change", args=[provider.id])).content.decode()
    assert "1 waiting, 0 dead" in page and "initial-token-from-cp-9999" not in page

    # A handshake while registering is refused with the reason, nothing queued.
    response = admin_client.post(url, {"action": "start_handshake", "_selected_action": [provider.id]}, follow=True)
    assert "A handshake needs a registered partner" in response.content.decode()
    assert not Message.objects.filter(message_type="handshake").exists()


def test_admin_retry_button_and_action(admin_client, provider):
    message = _dead_message(provider)
    page = admin_client.get(reverse("admin:connections_message_change", args=[message.id])).content.decode()
    assert reverse("admin:connections_message_retry", args=[message.id]) in page
    admin_client.post(reverse("admin:connections_message_retry", args=[message.id]))
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING

    message.status = MessageStatus.DEAD
    message.save()
    changelist = reverse("admin:connections_message_changelist")
    admin_client.post(changelist, {"action": "retry_messages", "_selected_action": [message.id]})
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING
    page = admin_client.get(reverse("admin:connections_message_change", args=[message.id])).content.decode()
    assert reverse("admin:connections_message_retry", args=[message.id]) not in page  # pending: no button
