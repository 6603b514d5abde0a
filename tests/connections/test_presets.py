"""Partner presets: a profile fills the connection settings, explicit fields override it, and each
setting shows on the wire."""

import json
import os
import subprocess
import sys
from datetime import UTC, timedelta

import pytest
import responses
from django.core.exceptions import ValidationError
from django.utils import timezone

from connections import client
from connections.choices import ConnectionState, RegistrationStatus
from connections.models import Message, Partner
from connections.outbound import heartbeats_dispatch, partner_handshake_start
from connections.presets import PRESET_FIELDS, PRESETS
from connections.services import inbound_token_issue
from tests.connections.conftest import OscpClient
from tests.connections.factories import CapacityProviderFactory

BASE = "/solaruser/api/v1/sec/user/oscp"
PROVIDERS = f"{BASE}/capacity-providers"
GROUPS = f"{BASE}/capacity-groups"
ASSETS = f"{BASE}/assets"
PARTNER_URL = "https://partner.example.com/oscp/cp/2.0"
VECTOR = {
    "name": "Vector",
    "baseUrl": PARTNER_URL,
    "profile": "vector-derms",
    "serviceProps": {
        "oauth-token-url": "https://auth.example.com/oauth2/token",
        "oauth-client-id": "client-123",
        "oauth-client-secret": "Secret.123",
    },
    "staticHeaders": {"fp-id": "fp-1", "apikey": "key-123456"},
}

pytestmark = pytest.mark.django_db


def _create(api_client, body):
    response = api_client.post(PROVIDERS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


def test_every_preset_names_every_setting():
    assert set(PRESETS) == {"oscp-2.0", "vector-derms", "elmo", "solarnetwork", "pyoscp"}
    for preset in PRESETS.values():
        assert set(preset.settings) == set(PRESET_FIELDS)


def test_profile_fills_the_settings_and_explicit_fields_override(api_client):
    data = _create(api_client, {**VECTOR, "requiredHeartbeatSeconds": 30})
    assert data["profile"] == "vector-derms"
    assert data["registrationMode"] == "out-of-band"
    assert data["measurementMessage"] == "asset"
    assert data["instantaneousUnits"] == ["W", "KW"]
    assert data["groupIdentifierPattern"] == "^[A-Za-z0-9]+$"
    assert (data["forecastCadenceMinutes"], data["forecastHorizonHours"]) == (15, 24)
    assert data["requiredHeartbeatSeconds"] == 30
    assert data["presetOverrides"] == ["requiredHeartbeatSeconds"]

    # A full replace with another profile: what is not given follows the new preset.
    response = api_client.put(f"{PROVIDERS}/{data['configId']}", {**VECTOR, "profile": "pyoscp"}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["timeFormat"], data["acknowledgeWithBehaviour"], data["naiveTimesAsUtc"]) == ("space-utc", True, True)
    assert data["pathOverrides"] == {"handshake_acknowledge": "handshake_acknowledgment"}
    assert data["measurementMessage"] == "group" and data["presetOverrides"] == []


def test_default_profile_is_the_standard(api_client):
    data = _create(api_client, {"name": "CP", "baseUrl": PARTNER_URL})
    assert data["profile"] == "oscp-2.0"
    assert (data["registrationMode"], data["timeFormat"], data["presetOverrides"]) == ("standard", "rfc3339", [])


def test_out_of_band_partner_is_registered_once_url_and_credentials_are_set(api_client):
    data = _create(api_client, {**VECTOR, "serviceProps": {}})
    assert data["registrationStatus"] == "Pending"
    response = api_client.put(f"{PROVIDERS}/{data['configId']}", VECTOR, format="json")
    data = response.json()["data"]
    assert (data["registrationStatus"], data["connectionState"]) == ("Registered", "registered")
    # No register is ever sent to it...
    response = api_client.post(f"{PROVIDERS}/{data['configId']}/register", {}, format="json")
    assert response.status_code == 400 and "out of band" in response.content.decode()
    assert not Message.objects.filter(message_type="register").exists()


def test_out_of_band_partner_handshakes_and_gets_heartbeats(api_client):
    data = _create(api_client, VECTOR)
    partner = Partner.objects.get(pk=data["configId"])
    token = inbound_token_issue(partner=partner)
    oscp = OscpClient()
    # Its register is refused; its handshake is answered with {} and brings it online.
    register = {"token": "t" * 20, "version_url": [{"version": "2.0", "base_url": PARTNER_URL}]}
    assert oscp.post("register", register, token=token).status_code == 403
    sent = oscp.post("handshake", {"required_behaviour": {"heartbeat_interval": 60}}, token=token)
    assert sent.status_code == 204
    ack = Message.objects.get(direction="out", message_type="handshake_acknowledge")
    assert (ack.body, ack.correlation_id) == ({}, sent.request_id)
    partner.refresh_from_db()
    assert partner.connection_state == ConnectionState.ONLINE
    assert heartbeats_dispatch() == 1
    assert Message.objects.filter(direction="out", message_type="heartbeat", partner=partner).exists()


def test_we_register_first_refuses_an_unsolicited_register_and_sends_ours(api_client):
    data = _create(api_client, {"name": "ELMO", "baseUrl": PARTNER_URL, "profile": "elmo", "partnerToken": "init-1234"})
    partner = Partner.objects.get(pk=data["configId"])
    assert partner.partner_token == "init-1234"
    token = inbound_token_issue(partner=partner)
    register = {"token": "t" * 20, "version_url": [{"version": "2.0", "base_url": PARTNER_URL}]}
    refused = OscpClient().post("register", register, token=token)
    assert refused.status_code == 403 and "we register first" in refused.json()["message"]
    response = api_client.post(f"{PROVIDERS}/{partner.id}/register", {}, format="json")
    assert response.status_code in (200, 201, 202), response.content
    assert Message.objects.filter(direction="out", message_type="register", partner=partner).count() == 1
    # ELMO starts the handshake: we do not.
    response = api_client.post(f"{PROVIDERS}/{partner.id}/handshake", {}, format="json")
    assert response.status_code == 400 and "handshakeInitiator" in response.content.decode()


def test_acknowledgement_carries_required_behaviour_for_pyoscp(owner):
    partner = CapacityProviderFactory(
        owner=owner,
        profile="pyoscp",
        acknowledge_with_behaviour=True,
        required_heartbeat_seconds=30,
        connection_state=ConnectionState.REGISTERED,
        registration_status=RegistrationStatus.REGISTERED,
    )
    token = inbound_token_issue(partner=partner)
    assert (
        OscpClient().post("handshake", {"required_behaviour": {"heartbeat_interval": 10}}, token=token).status_code
        == 204
    )
    ack = Message.objects.get(direction="out", message_type="handshake_acknowledge")
    assert ack.body == {"required_behaviour": {"heartbeat_interval": 30, "measurement_configuration": []}}


@responses.activate
def test_time_format_path_and_dropped_fields_on_the_wire(make_message):
    partner = CapacityProviderFactory(
        base_url=PARTNER_URL,
        partner_token="their-token-0001",
        time_format="space-utc",
        path_overrides=PRESETS["pyoscp"].settings["path_overrides"],
        send_energy_type=False,
        send_initial_measure_time=False,
    )
    responses.post(f"{PARTNER_URL}/heartbeat", status=204)
    responses.post(f"{PARTNER_URL}/handshake_acknowledgment", status=204)
    responses.post(f"{PARTNER_URL}/update_group_measurements", status=204)
    heartbeat = make_message(partner, "heartbeat", {"offline_mode_at": "2026-12-02T05:11:26.123Z"})
    client.message_post(message=heartbeat, partner=partner)
    assert json.loads(responses.calls[0].request.body) == {"offline_mode_at": "2026-12-02 05:11:26"}
    ack = make_message(partner, "handshake_acknowledge", {})
    client.message_post(message=ack, partner=partner)
    assert responses.calls[1].request.url == f"{PARTNER_URL}/handshake_acknowledgment"
    entry = {
        "value": 1.5,
        "phase": "ALL",
        "unit": "KWH",
        "direction": "IMPORT",
        "energy_type": "TOTAL",
        "measure_time": "2026-12-02T05:15:00+00:00",
        "initial_measure_time": "2026-12-02T05:00:00Z",
    }
    report = make_message(partner, "update_group_measurements", {"group_id": "g1", "measurements": [entry]})
    client.message_post(message=report, partner=partner)
    [sent] = json.loads(responses.calls[2].request.body)["measurements"]
    assert sent == {
        "value": 1.5,
        "phase": "ALL",
        "unit": "KWH",
        "direction": "IMPORT",
        "measure_time": "2026-12-02 05:15:00",
    }
    # The message log keeps the standard form.
    report.refresh_from_db()
    assert report.body["measurements"][0]["initial_measure_time"] == "2026-12-02T05:00:00Z"


@responses.activate
def test_standard_partner_gets_rfc3339(make_message):
    partner = CapacityProviderFactory(base_url=PARTNER_URL, partner_token="their-token-0001")
    responses.post(f"{PARTNER_URL}/heartbeat", status=204)
    message = make_message(partner, "heartbeat", {"offline_mode_at": "2026-12-02T05:11:26.123Z"})
    client.message_post(message=message, partner=partner)
    assert json.loads(responses.calls[0].request.body) == {"offline_mode_at": "2026-12-02T05:11:26.123Z"}


def test_zone_less_times_read_as_utc_for_pyoscp(owner):
    partner = CapacityProviderFactory(
        owner=owner,
        **{k: v for k, v in PRESETS["pyoscp"].settings.items() if k == "naive_times_as_utc"},
        connection_state=ConnectionState.ONLINE,
        registration_status=RegistrationStatus.REGISTERED,
    )
    token = inbound_token_issue(partner=partner)
    later = (timezone.now() + timedelta(minutes=5)).astimezone(UTC).replace(microsecond=0, tzinfo=None)
    assert (
        OscpClient()
        .post("heartbeat", {"offline_mode_at": later.strftime("%Y-%m-%d %H:%M:%S")}, token=token)
        .status_code
        == 204
    )
    partner.refresh_from_db()
    assert partner.offline_mode_at == later.replace(tzinfo=UTC)


def _vector_group(api_client, identifier="site1"):
    provider = _create(api_client, VECTOR)
    body = {"name": "Site", "identifier": identifier, "capacityProviderId": provider["configId"]}
    body["capacityProviderMeasurementPeriod"] = "FifteenMinute"
    body["enabled"] = True
    return provider, api_client.post(GROUPS, body, format="json")


def test_group_identifier_with_a_space_is_refused_naming_the_rule(api_client):
    _provider, response = _vector_group(api_client, identifier="my site #1")
    assert response.status_code == 400
    body = response.json()
    assert "identifier" in json.dumps(body) and "^[A-Za-z0-9]+$" in json.dumps(body)


def test_asset_in_amperes_is_refused_for_vector(api_client):
    _provider, response = _vector_group(api_client)
    assert response.status_code == 201, response.content
    asset = {
        "name": "Charger 1",
        "capacityGroupId": response.json()["data"]["configId"],
        "identifier": "c1",
        "audience": "CapacityProvider",
        "enabled": True,
        "nodeId": 1,
        "sourceId": "charger/1",
        "category": "Charging",
        "instantaneous": {"propertyNames": ["amps"], "unit": "A", "statisticType": "Maximum"},
    }
    refused = api_client.post(ASSETS, asset, format="json")
    assert refused.status_code == 400
    text = json.dumps(refused.json())
    assert "instantaneous.unit" in text and "W, KW" in text
    asset["instantaneous"]["unit"] = "kW"
    assert api_client.post(ASSETS, asset, format="json").status_code == 201


def test_group_id_with_a_trailing_space_finds_no_group(oscp, group, provider_token):
    body = {
        "group_id": group.identifier + " ",
        "type": "CONSUMPTION",
        "forecasted_blocks": [
            {
                "capacity": 1,
                "phase": "ALL",
                "unit": "KW",
                "start_time": "2024-05-01T00:00:00Z",
                "end_time": "2024-05-01T01:00:00Z",
            }
        ],
    }
    assert oscp.post("update_group_capacity_forecast", body, token=provider_token).status_code == 404


@pytest.mark.parametrize(
    ("env", "expected"), [({"PORT": "8765"}, "http://127.0.0.1:8765/oscp/"), ({}, "http://127.0.0.1:8000/oscp/")]
)
def test_advertised_urls_follow_the_port(env, expected):
    clean = {k: v for k, v in os.environ.items() if k not in ("PORT", "OSCP_PUBLIC_BASE_URL", "OSCP_OAUTH_TOKEN_URL")}
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.OSCP_PUBLIC_BASE_URL); print(settings.OSCP_OAUTH_TOKEN_URL)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "oscp_platform.settings.test"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [expected + "fp/2.0", expected + "oauth/token"]


def test_handshake_initiator_decides_who_may_start(owner):
    """``handshakeInitiator``: "we" refuses the partner's handshake (we start it); "they" refuses ours."""
    ours = CapacityProviderFactory(
        owner=owner,
        handshake_initiator="we",
        connection_state=ConnectionState.REGISTERED,
        registration_status=RegistrationStatus.REGISTERED,
    )
    sent = OscpClient().post("handshake", {"required_behaviour": {}}, token=inbound_token_issue(partner=ours))
    assert sent.status_code == 403 and "we start the handshake" in sent.json()["message"]
    ours.refresh_from_db()
    assert ours.connection_state == ConnectionState.REGISTERED
    assert not Message.objects.filter(direction="out", partner=ours).exists()

    theirs = CapacityProviderFactory(
        owner=owner,
        handshake_initiator="they",
        connection_state=ConnectionState.REGISTERED,
        registration_status=RegistrationStatus.REGISTERED,
    )
    with pytest.raises(ValidationError) as refused:
        partner_handshake_start(partner=theirs)
    assert "handshakeInitiator" in refused.value.message_dict
    assert not Message.objects.filter(direction="out", partner=theirs).exists()
