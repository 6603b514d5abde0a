"""register, handshake, handshake_acknowledge and heartbeat from partners."""

import json

import pytest
from django.test import override_settings

from connections.choices import ConnectionState, RegistrationStatus, TokenKind
from connections.inbound import registration_failed, registration_reply_accepted
from connections.models import Message, Partner
from connections.selectors import partner_for_token
from connections.services import inbound_token_issue
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory

pytestmark = pytest.mark.django_db

PUBLIC = "https://fp.example.com/oscp/fp/2.0"


def register_body(token="T_B-partner-token-abcdef", versions=(("2.0", "https://cp.example.com/oscp/cp/2.0"),)):
    return {"token": token, "version_url": [{"version": v, "base_url": url} for v, url in versions]}


@pytest.fixture
def new_provider(owner):
    """Created by staff, initial token handed out of band, nothing exchanged yet."""
    return CapacityProviderFactory(owner=owner, partner_token="")


@pytest.fixture
def initial_token(new_provider):
    return inbound_token_issue(partner=new_provider)


def outbound(partner, message_type):
    return Message.objects.filter(partner=partner, direction="out", message_type=message_type)


# --- register --------------------------------------------------------------------------------


@override_settings(OSCP_PUBLIC_BASE_URL=PUBLIC)
def test_register_stores_token_and_queues_reply_with_new_token(oscp, new_provider, initial_token):
    body = register_body(versions=(("1.0", "https://cp.example.com/1.0"), ("2.0", "https://cp.example.com/2.0")))
    sent = oscp.post("register", body, token=initial_token)
    assert sent.status_code == 204
    assert sent.response.content == b""

    partner = Partner.objects.get(pk=new_provider.pk)
    assert partner.partner_token == "T_B-partner-token-abcdef"
    assert partner.base_url == "https://cp.example.com/2.0"
    assert partner.registration_status == RegistrationStatus.PENDING
    assert partner.connection_state == ConnectionState.REGISTERING

    reply = outbound(partner, "register").get()
    assert reply.correlation_id == sent.request_id
    assert reply.status == "pending"
    real = json.loads(reply.sealed_body)
    assert real["version_url"] == [{"version": "2.0", "base_url": PUBLIC}]
    assert partner_for_token(token=real["token"]) == partner
    assert reply.body == {"token": "••••" + real["token"][-4:], "version_url": real["version_url"]}
    # The initial token keeps working until our reply is accepted.
    assert partner_for_token(token=initial_token) == partner


def test_reply_is_queued_only_on_commit(oscp, new_provider, initial_token, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        oscp.post("register", register_body(), token=initial_token)
    assert len(callbacks) == 1


def test_reply_accepted_retires_initial_token_and_registers(oscp, new_provider, initial_token):
    oscp.post("register", register_body(), token=initial_token)
    reply = outbound(new_provider, "register").get()
    registration_reply_accepted(message=reply)

    partner = Partner.objects.get(pk=new_provider.pk)
    assert partner.registration_status == RegistrationStatus.REGISTERED
    assert partner.connection_state == ConnectionState.REGISTERED
    assert partner_for_token(token=initial_token) is None
    assert partner_for_token(token=json.loads(reply.sealed_body)["token"]) == partner
    assert "accepted" in partner.history.first().history_change_reason


def test_reply_failed_marks_failed_and_keeps_initial_token(oscp, new_provider, initial_token):
    oscp.post("register", register_body(), token=initial_token)
    reply = outbound(new_provider, "register").get()
    reply.error = "HTTP 401"
    registration_failed(message=reply)

    partner = Partner.objects.get(pk=new_provider.pk)
    assert partner.registration_status == RegistrationStatus.FAILED
    assert partner.connection_state == ConnectionState.FAILED
    assert partner_for_token(token=json.loads(reply.sealed_body)["token"]) is None
    assert partner_for_token(token=initial_token) == partner  # it may register again


def test_register_without_2_0_is_501_and_nothing_stored(oscp, new_provider, initial_token):
    sent = oscp.post("register", register_body(versions=(("2.1", "https://x.example.com/2.1"),)), token=initial_token)
    assert sent.status_code == 501
    assert "2.0" in sent.json()["message"]
    partner = Partner.objects.get(pk=new_provider.pk)
    assert partner.partner_token == ""
    assert not outbound(partner, "register").exists()
    assert partner.inbound_tokens.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"version_url": [{"version": "2.0", "base_url": "https://x.example.com"}]}, "token"),
        ({"token": "abc", "version_url": []}, "version_url"),
        ({"token": "abc", "version_url": [{"version": "2.0", "base_url": "not a url"}]}, "version_url[0].base_url"),
    ],
)
def test_invalid_register_is_400_naming_field(oscp, new_provider, initial_token, body, field):
    sent = oscp.post("register", body, token=initial_token)
    assert sent.status_code == 400
    assert sent.json()["message"].startswith(field + ":")
    assert Partner.objects.get(pk=new_provider.pk).partner_token == ""


def test_answer_to_our_register_completes_without_reply(oscp, new_provider):
    """We started: our register carried token T_A; the partner answers with T_C using T_A."""
    our_token = inbound_token_issue(partner=new_provider, kind=TokenKind.REGISTRATION)
    ours = Message.objects.create(
        partner=new_provider, direction="out", message_type="register", request_id="our-reg", status="sent"
    )
    sent = oscp.post(
        "register",
        register_body(token="T_C-their-new-token"),
        token=our_token,
        headers={"X-Correlation-ID": ours.request_id},
    )
    assert sent.status_code == 204
    partner = Partner.objects.get(pk=new_provider.pk)
    assert partner.registration_status == RegistrationStatus.REGISTERED
    assert partner.connection_state == ConnectionState.REGISTERED
    assert partner.partner_token == "T_C-their-new-token"
    assert outbound(partner, "register").count() == 1  # only ours: no ping-pong


def test_registered_partner_registering_again_rotates_tokens(oscp, provider, provider_token):
    sent = oscp.post("register", register_body(token="T_D-fresh-partner-token"), token=provider_token)
    assert sent.status_code == 204
    reply = outbound(provider, "register").get()
    assert reply.correlation_id == sent.request_id
    registration_reply_accepted(message=reply)
    assert partner_for_token(token=provider_token) is None
    new_token = json.loads(reply.sealed_body)["token"]
    assert Partner.objects.get(pk=provider.pk).partner_token == "T_D-fresh-partner-token"
    # A register with the new token is a fresh exchange again, answered once.
    oscp.post("register", register_body(token="T_E-another-token-xyz"), token=new_token)
    assert outbound(provider, "register").count() == 2


def test_register_token_masked_in_log(oscp, new_provider, initial_token):
    oscp.post("register", register_body(token="SuperSecretPartnerToken9876"), token=initial_token)
    row = Message.objects.get(direction="in")
    assert row.body["token"] == "••••9876"
    assert initial_token not in json.dumps(row.headers)
    assert "SuperSecretPartnerToken" not in json.dumps([row.body, row.headers, row.error])


# --- handshake -------------------------------------------------------------------------------


def test_nested_handshake_stores_behaviour_goes_online_and_queues_ack(oscp, provider, provider_token):
    Partner.objects.filter(pk=provider.pk).update(connection_state=ConnectionState.REGISTERED)
    body = {"required_behaviour": {"heartbeat_interval": 60, "measurement_configuration": ["CONTINUOUS"]}}
    sent = oscp.post("handshake", body, token=provider_token)
    assert sent.status_code == 204
    partner = Partner.objects.get(pk=provider.pk)
    assert partner.settings == {"heartbeatSeconds": 60, "measurementStyles": ["Continuous"]}
    assert partner.connection_state == ConnectionState.ONLINE
    assert partner.connection_state_reason == "handshake received"
    assert partner.handshake_completed_at is not None
    ack = outbound(partner, "handshake_acknowledge").get()
    assert (ack.body, ack.correlation_id) == ({}, sent.request_id)


def test_flat_handshake_is_accepted_and_recorded(oscp, provider, provider_token):
    """Taipower-style: measurement_configuration at the top level."""
    body = {"measurement_configuration": ["INTERMITTENT", "CONTINUOUS"]}
    sent = oscp.post("handshake", body, token=provider_token)
    assert sent.status_code == 204
    partner = Partner.objects.get(pk=provider.pk)
    assert partner.settings == {"measurementStyles": ["Intermittent", "Continuous"]}
    assert "flat" in Message.objects.get(direction="in").error


def test_handshake_from_offline_partner_brings_it_online(oscp, provider, provider_token):
    Partner.objects.filter(pk=provider.pk).update(connection_state=ConnectionState.OFFLINE)
    assert oscp.post("handshake", {"required_behaviour": {}}, token=provider_token).status_code == 204
    assert Partner.objects.get(pk=provider.pk).connection_state == ConnectionState.ONLINE


def test_handshake_before_registration_is_403(oscp, new_provider, initial_token):
    sent = oscp.post("handshake", {"required_behaviour": {"heartbeat_interval": 30}}, token=initial_token)
    assert sent.status_code == 403
    assert sent.json()["message"].startswith("Register first")
    partner = Partner.objects.get(pk=new_provider.pk)
    assert partner.settings == {}
    assert partner.connection_state == ConnectionState.NEW
    assert not outbound(partner, "handshake_acknowledge").exists()


def test_handshake_after_out_of_band_registration(oscp, new_provider, initial_token):
    Partner.objects.filter(pk=new_provider.pk).update(registration_status=RegistrationStatus.REGISTERED)
    assert oscp.post("handshake", {"required_behaviour": {}}, token=initial_token).status_code == 204


@pytest.mark.parametrize(
    "body, expected",
    [
        ({}, "required_behaviour: This field is required."),
        ({"required_behaviour": {"heartbeat_interval": 0}}, "required_behaviour.heartbeat_interval:"),
        ({"required_behaviour": {"heartbeat_interval": "soon"}}, "required_behaviour.heartbeat_interval:"),
        (
            {"required_behaviour": {"measurement_configuration": ["CONTINUOUS", "CONTINUOUS"]}},
            "required_behaviour.measurement_configuration: Values must be unique.",
        ),
        (
            {"required_behaviour": {"measurement_configuration": ["SOMETIMES"]}},
            "required_behaviour.measurement_configuration[0]:",
        ),
    ],
)
def test_invalid_handshake_is_400(oscp, provider, provider_token, body, expected):
    sent = oscp.post("handshake", body, token=provider_token)
    assert sent.status_code == 400
    assert sent.json()["message"].startswith(expected)
    assert not outbound(provider, "handshake_acknowledge").exists()
    assert Partner.objects.get(pk=provider.pk).settings == {}


# --- handshake_acknowledge -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["handshake_acknowledge", "handshake_acknowledgment", "handshake_acknowledgement"])
def test_acknowledge_completes_our_handshake(oscp, owner, path):
    optimizer = CapacityOptimizerFactory(owner=owner, connection_state=ConnectionState.HANDSHAKING)
    token = inbound_token_issue(partner=optimizer)
    sent = oscp.post(path, {}, token=token)
    assert sent.status_code == 204
    partner = Partner.objects.get(pk=optimizer.pk)
    assert partner.connection_state == ConnectionState.ONLINE
    assert partner.connection_state_reason == "handshake acknowledged"
    row = Message.objects.get(direction="in")
    assert row.message_type == "handshake_acknowledge"
    assert (path in row.error) == (path != "handshake_acknowledge")


def test_acknowledge_stores_behaviour(oscp, owner):
    optimizer = CapacityOptimizerFactory(owner=owner, connection_state=ConnectionState.HANDSHAKING)
    token = inbound_token_issue(partner=optimizer)
    body = {"required_behaviour": {"heartbeat_interval": 120, "measurement_configuration": []}}
    assert oscp.post("handshake_acknowledge", body, token=token).status_code == 204
    assert Partner.objects.get(pk=optimizer.pk).settings == {"heartbeatSeconds": 120, "measurementStyles": []}


# --- heartbeat -------------------------------------------------------------------------------


def test_heartbeat_with_offset_records_offline_mode_at_in_utc(oscp, provider, provider_token):
    sent = oscp.post("heartbeat", {"offline_mode_at": "2030-01-01T10:00:00+08:00"}, token=provider_token)
    assert sent.status_code == 204
    partner = Partner.objects.get(pk=provider.pk)
    assert partner.offline_mode_at.isoformat() == "2030-01-01T02:00:00+00:00"
    assert partner.last_heartbeat_received_at is not None
    assert partner.connection_state == ConnectionState.ONLINE


def test_heartbeat_keeps_offline_partner_offline(oscp, provider, provider_token):
    Partner.objects.filter(pk=provider.pk).update(connection_state=ConnectionState.OFFLINE)
    assert oscp.post("heartbeat", {"offline_mode_at": "2030-01-01T00:00:00Z"}, token=provider_token).status_code == 204
    partner = Partner.objects.get(pk=provider.pk)
    assert partner.connection_state == ConnectionState.OFFLINE
    assert "new handshake" in partner.connection_state_reason


def test_zone_less_heartbeat_is_400_unless_profile_says_utc(oscp, provider, provider_token):
    body = {"offline_mode_at": "2030-01-01 10:00:00"}
    sent = oscp.post("heartbeat", body, token=provider_token)
    assert sent.status_code == 400
    assert sent.json()["message"].startswith("offline_mode_at:")
    assert "offset" in sent.json()["message"]
    assert Partner.objects.get(pk=provider.pk).offline_mode_at is None

    Partner.objects.filter(pk=provider.pk).update(naive_times_as_utc=True)
    assert oscp.post("heartbeat", body, token=provider_token).status_code == 204
    assert Partner.objects.get(pk=provider.pk).offline_mode_at.isoformat() == "2030-01-01T10:00:00+00:00"
    assert "zone-less" in Message.objects.filter(status="accepted").get().error


@pytest.mark.parametrize("value", [None, "", "2030-01-01", "tomorrow", 12345])
def test_bad_heartbeat_time_is_400(oscp, provider_token, value):
    assert oscp.post("heartbeat", {"offline_mode_at": value}, token=provider_token).status_code == 400


def test_body_not_json_is_400(oscp, provider_token):
    sent = oscp.post("heartbeat", None, raw="{not json", token=provider_token)
    assert sent.status_code == 400
    assert "JSON" in sent.json()["message"]
    assert oscp.post("heartbeat", None, raw="[1, 2]", token=provider_token).status_code == 400
