"""``enabled`` off disables the connection: nothing is sent (the outbox holds it), heartbeats stop,
the partner's calls are refused; on again, the connection is back where registration left it and
the held messages go. The management API and the admin take the same path (``partner_update``)."""

import json
from datetime import timedelta

import pytest
import responses
from django.urls import reverse
from django.utils import timezone

from connections import outbox
from connections.choices import ConnectionState, MessageStatus, RegistrationStatus
from connections.models import Partner
from connections.outbound import heartbeats_dispatch
from connections.services import inbound_token_issue, partner_create
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory

pytestmark = pytest.mark.django_db

BASE_URL = "https://cp.example.com/oscp/cp/2.0"
API = "/solaruser/api/v1/sec/user/oscp"


@pytest.fixture
def partner(user):
    return CapacityProviderFactory(
        owner=user,
        base_url=BASE_URL,
        partner_token="partner-token-abcdefgh1234",
        registration_status=RegistrationStatus.REGISTERED,
        connection_state=ConnectionState.ONLINE,
        settings={"heartbeatSeconds": 60},
    )


@pytest.fixture
def queued(published):
    """What the outbox published (on commit)."""
    return published


def _api_put(api_client, partner, url="capacity-providers", **changes):
    body = {"name": partner.name, "baseUrl": partner.base_url, "enabled": True, **changes}
    return api_client.put(f"{API}/{url}/{partner.id}", body, format="json")


def _deliver(message, capture):
    with capture(execute=True):
        outbox.messages_deliver(message_ids=[message.id])
    message.refresh_from_db()
    return message


def test_api_disable_stops_everything_and_enable_brings_it_back(
    api_client, partner, make_message, queued, django_capture_on_commit_callbacks
):
    response = _api_put(api_client, partner, enabled=False)
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["enabled"], data["connectionState"]) == (False, "disabled")
    assert data["connectionStateReason"] == f"disabled by {partner.owner.username}"
    history = Partner.history.filter(id=partner.id).first()
    assert history.history_change_reason == f"updated; disabled by {partner.owner.username}"
    assert history.history_user == partner.owner

    # No heartbeat, and a message written meanwhile is held, not sent and not killed.
    assert heartbeats_dispatch(now=timezone.now()) == 0
    report = make_message(partner, "update_group_measurements", body={"measurements": []})
    with responses.RequestsMock() as no_calls:  # any HTTP call would fail the test
        held = _deliver(report, django_capture_on_commit_callbacks)
        assert len(no_calls.calls) == 0
    assert held.status == MessageStatus.PENDING and held.error == "waiting: partner is disabled"
    assert held.attempts == 0
    assert outbox.outbox_sweep(now=timezone.now() + timedelta(minutes=30)) == 0

    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = _api_put(api_client, partner, enabled=True)
    data = response.json()["data"]
    assert (data["enabled"], data["connectionState"]) == (True, "registered")
    assert data["connectionStateReason"] == f"enabled again by {partner.owner.username}"
    assert report.id in queued.ids()  # the held message goes now
    with responses.RequestsMock() as calls:
        calls.post(f"{BASE_URL}/update_group_measurements", status=204)
        assert _deliver(report, django_capture_on_commit_callbacks).status == MessageStatus.SENT
    assert heartbeats_dispatch(now=timezone.now()) == 1  # registered: heartbeats again


def test_a_disabled_partner_never_registered_comes_back_new(api_client, user):
    optimizer = CapacityOptimizerFactory(owner=user, connection_state=ConnectionState.REGISTERING)
    _api_put(api_client, optimizer, url="capacity-optimizers", enabled=False)
    optimizer.refresh_from_db()
    assert optimizer.connection_state == ConnectionState.DISABLED
    data = _api_put(api_client, optimizer, url="capacity-optimizers", enabled=True).json()["data"]
    assert data["connectionState"] == "new" and data["registrationStatus"] == "Pending"


def test_saving_other_fields_leaves_the_connection_state_alone(api_client, partner):
    data = _api_put(api_client, partner, name="Renamed").json()["data"]
    assert data["connectionState"] == "online"
    assert Partner.history.filter(id=partner.id).first().history_change_reason == "updated"


def test_a_partner_created_disabled_starts_disabled(user):
    partner, _token = partner_create(owner=user, role="CapacityProvider", name="P", base_url=BASE_URL, enabled=False)
    assert partner.connection_state == ConnectionState.DISABLED
    assert Partner.history.get(id=partner.id, history_type="+").history_change_reason == "created; disabled"


def test_a_disabled_partners_calls_are_refused(api_client, partner, client):
    token = inbound_token_issue(partner=partner)
    _api_put(api_client, partner, enabled=False)
    response = client.post(
        "/oscp/fp/2.0/heartbeat",
        data=json.dumps({"offline_mode_at": "2030-01-01T00:00:00Z"}),
        content_type="application/json",
        headers={"Authorization": f"Token {token}", "X-Request-ID": "hb-1"},
    )
    assert response.status_code == 403
    assert Partner.objects.get(id=partner.id).last_heartbeat_received_at is None


def test_register_and_handshake_are_refused_while_disabled(api_client, partner):
    _api_put(api_client, partner, enabled=False)
    for action in ("register", "handshake"):
        response = api_client.post(f"{API}/capacity-providers/{partner.id}/{action}")
        assert response.status_code == 400
        assert "enabled" in response.json()["message"]
    assert not partner.messages.exists()


def _admin_form(partner, **changes):
    data = {
        "name": partner.name,
        "base_url": partner.base_url,
        "oscp_version": "2.0",
        "enabled": "on",
        "registration_status": partner.registration_status,
        "service_props": "{}",
        "path_overrides": "{}",
        "request_id_header_policy": "ours",
        "measurement_message": "group",
        "required_measurement_styles": "[]",
        "profile": "oscp-2.0",
        "registration_mode": "standard",
        "handshake_initiator": "either",
        "time_format": "rfc3339",
        "instantaneous_units": "[]",
        "energy_units": "[]",
        "send_energy_type": "on",
        "send_initial_measure_time": "on",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_admin_disable_and_enable_use_the_same_path(admin_client, admin_user, partner, queued):
    url = reverse("admin:connections_capacityprovider_change", args=[partner.id])
    assert admin_client.post(url, _admin_form(partner, enabled=None)).status_code == 302
    partner.refresh_from_db()
    assert not partner.enabled
    assert partner.connection_state == ConnectionState.DISABLED
    assert partner.connection_state_reason == f"disabled by {admin_user.username}"
    assert heartbeats_dispatch(now=timezone.now()) == 0

    assert admin_client.post(url, _admin_form(partner)).status_code == 302
    partner.refresh_from_db()
    assert partner.enabled and partner.connection_state == ConnectionState.REGISTERED
    reasons = list(Partner.history.filter(id=partner.id).values_list("history_change_reason", flat=True)[:2])
    name = admin_user.username
    assert reasons == [f"updated; enabled again by {name}", f"updated; disabled by {name}"]
