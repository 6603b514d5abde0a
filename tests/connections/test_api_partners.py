"""Management API: Capacity Providers and Capacity Optimizers (seed 004 shapes)."""

import json
import re

import pytest

from connections.choices import ConnectionState, PartnerRole, RegistrationStatus
from connections.models import InboundToken, Partner
from connections.selectors import partner_for_token
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory
from tests.groups.factories import CapacityGroupFactory

BASE = "/solaruser/api/v1/sec/user/oscp"
PROVIDERS = f"{BASE}/capacity-providers"
OPTIMIZERS = f"{BASE}/capacity-optimizers"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?Z$")

SEED_PROVIDER = {
    "name": "Lines Co.",
    "baseUrl": "https://oscp.example.com/oscp/cp/2.0",
    "oscpVersion": "2.0",
    "enabled": True,
    "serviceProps": {
        "oauth-token-url": "https://auth.example.com/oauth2/token",
        "oauth-client-id": "client-123",
        "oauth-client-secret": "Secret.123",
    },
}
SEED_OPTIMIZER = {**SEED_PROVIDER, "name": "Optimizer Co.", "baseUrl": "https://oscp.example.com/oscp/co/2.0"}

pytestmark = pytest.mark.django_db


def _create(client, url=PROVIDERS, **changes):
    response = client.post(url, {**SEED_PROVIDER, **changes}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


@pytest.mark.parametrize(
    ("url", "payload", "role"),
    [
        (PROVIDERS, SEED_PROVIDER, PartnerRole.CAPACITY_PROVIDER),
        (OPTIMIZERS, SEED_OPTIMIZER, PartnerRole.CAPACITY_OPTIMIZER),
    ],
)
def test_create_returns_the_seed_shape_with_the_token_once(api_client, user, url, payload, role):
    response = api_client.post(url, payload, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    partner = Partner.objects.get()
    assert partner.role == role
    assert response["Location"].endswith(f"{url}/{partner.id}")
    # The seed example's keys, in its order, token right after the name.
    seed_keys = ["userId", "configId", "created", "modified", "enabled", "name", "token", "baseUrl"]
    assert list(data)[: len(seed_keys)] == seed_keys
    assert data["userId"] == user.id
    assert data["configId"] == partner.id
    assert TIMESTAMP.match(data["created"]) and TIMESTAMP.match(data["modified"])
    assert data["name"] == payload["name"]
    assert data["baseUrl"] == payload["baseUrl"]
    assert data["oscpVersion"] == "2.0"
    assert data["registrationStatus"] == "Pending"
    assert data["settings"] == {}
    assert data["serviceProps"] == {
        "oauth-client-id": "client-123",
        "oauth-token-url": "https://auth.example.com/oauth2/token",
    }
    assert data["flexibilityProviderId"] == InboundToken.objects.get().id
    # The token works for the partner and is stored only as a digest.
    assert partner_for_token(token=data["token"]) == partner
    assert not InboundToken.objects.filter(digest=data["token"]).exists()
    assert data["connectionState"] == "new" and data["online"] is False


def test_client_secret_is_stored_encrypted_and_never_returned(api_client):
    created = _create(api_client)
    partner = Partner.objects.get()
    assert partner.oauth_client_secret == "Secret.123"
    assert "oauth-client-secret" not in partner.service_props

    responses = [
        api_client.get(f"{PROVIDERS}/{created['configId']}"),
        api_client.get(PROVIDERS),
        api_client.put(f"{PROVIDERS}/{created['configId']}", SEED_PROVIDER, format="json"),
    ]
    for response in responses:
        assert response.status_code == 200
        assert "Secret.123" not in response.content.decode()
        assert "oauth-client-secret" not in response.content.decode()
    assert "token" not in responses[0].json()["data"]
    assert "token" not in responses[1].json()["data"][0]
    assert "token" not in responses[2].json()["data"]
    history = partner.history.values()
    assert all("Secret.123" not in json.dumps(row, default=str) for row in history)


def test_view_returns_state_and_profile(api_client, user):
    partner = CapacityProviderFactory(
        owner=user,
        registration_status=RegistrationStatus.REGISTERED,
        settings={"heartbeatSeconds": 60, "measurementStyles": ["Continuous"]},
        service_props={"oauth-client-id": "client-123"},
        connection_state=ConnectionState.ONLINE,
        static_headers='{"apikey": "k-very-secret"}',
    )

    response = api_client.get(f"{PROVIDERS}/{partner.id}")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["registrationStatus"] == "Registered"
    assert data["settings"] == {"heartbeatSeconds": 60, "measurementStyles": ["Continuous"]}
    assert data["online"] is True
    assert data["connectionState"] == "online"
    assert data["measurementMessage"] == "group"
    assert "staticHeaders" not in data
    assert "k-very-secret" not in response.content.decode()
    # trailing slash accepted too
    assert api_client.get(f"{PROVIDERS}/{partner.id}/").status_code == 200


def test_put_replaces_everything_and_a_missing_secret_removes_it(api_client):
    created = _create(
        api_client, combinedAssetId="site-1", staticHeaders={"apikey": "abc"}, pathOverrides={"heartbeat": "hb"}
    )
    url = f"{PROVIDERS}/{created['configId']}"

    response = api_client.put(
        url,
        {"name": "Renamed", "baseUrl": "http://cp.example.com/oscp/2.0", "serviceProps": {"oauth-client-id": "c2"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    partner = Partner.objects.get()
    assert data["name"] == partner.name == "Renamed"
    assert data["serviceProps"] == {"oauth-client-id": "c2"}
    assert partner.oauth_client_secret == ""
    assert partner.static_headers == ""
    assert partner.path_overrides == {}
    assert data["combinedAssetId"] == "" and data["enabled"] is True
    assert data["flexibilityProviderId"] == created["flexibilityProviderId"]


def test_put_with_a_new_secret_replaces_it(api_client):
    created = _create(api_client)
    props = {**SEED_PROVIDER["serviceProps"], "oauth-client-secret": "New.456"}
    response = api_client.put(
        f"{PROVIDERS}/{created['configId']}", {**SEED_PROVIDER, "serviceProps": props}, format="json"
    )
    assert response.status_code == 200
    assert Partner.objects.get().oauth_client_secret == "New.456"


def test_profile_fields_round_trip(api_client):
    created = _create(
        api_client,
        pathOverrides={"handshake_acknowledge": "/handshake_acknowledgment"},
        staticHeaders={"fp-id": "fp-1", "apikey": "k-1"},
        requestIdHeaderPolicy="static",
        naiveTimesAsUtc=True,
        measurementMessage="asset",
        combinedAssetId="SITE1",
        forecastCadenceMinutes=15,
        requiredHeartbeatSeconds=60,
        requiredMeasurementStyles=["Continuous", "Intermittent"],
    )
    partner = Partner.objects.get()
    assert created["pathOverrides"] == {"handshake_acknowledge": "handshake_acknowledgment"}
    assert json.loads(partner.static_headers) == {"fp-id": "fp-1", "apikey": "k-1"}
    assert partner.request_id_header_policy == "static"
    assert created["naiveTimesAsUtc"] is True
    assert created["measurementMessage"] == "asset"
    assert created["forecastCadenceMinutes"] == 15
    assert created["requiredHeartbeatSeconds"] == 60
    assert created["requiredMeasurementStyles"] == ["Continuous", "Intermittent"]


def test_delete_removes_the_partner_and_its_tokens(api_client, user):
    created = _create(api_client)
    token = created["token"]

    response = api_client.delete(f"{PROVIDERS}/{created['configId']}")

    assert response.status_code == 204
    assert response.content == b""
    assert not Partner.objects.exists()
    assert partner_for_token(token=token) is None
    assert api_client.get(f"{PROVIDERS}/{created['configId']}").status_code == 404


def test_delete_of_a_partner_used_by_a_group_is_refused(api_client, user):
    group = CapacityGroupFactory(capacity_provider=CapacityProviderFactory(owner=user))
    response = api_client.delete(f"{PROVIDERS}/{group.capacity_provider_id}")
    assert response.status_code == 409
    assert response.json()["success"] is False
    assert group.identifier in response.json()["message"]
    assert Partner.objects.filter(pk=group.capacity_provider_id).exists()


def test_other_accounts_and_other_roles_are_not_found(api_client, other_user):
    theirs = CapacityProviderFactory(owner=other_user)
    url = f"{PROVIDERS}/{theirs.id}"
    assert api_client.get(url).status_code == 404
    assert api_client.put(url, SEED_PROVIDER, format="json").status_code == 404
    assert api_client.delete(url).status_code == 404
    assert Partner.objects.get().name == theirs.name
    assert api_client.get(PROVIDERS).json()["data"] == []

    mine = _create(api_client)
    assert api_client.get(f"{OPTIMIZERS}/{mine['configId']}").status_code == 404
    assert api_client.get(OPTIMIZERS).json()["data"] == []


def test_authentication_is_required(client, db):
    assert client.get(PROVIDERS).status_code in (401, 403)
    assert client.post(PROVIDERS, SEED_PROVIDER, content_type="application/json").status_code in (401, 403)
    assert not Partner.objects.exists()


def test_admin_session_can_use_the_api(client, admin_user):
    client.force_login(admin_user)
    response = client.get(PROVIDERS)
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": []}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "x" * 65}, "name"),
        ({"name": None}, "name"),
        ({"baseUrl": "oscp.example.com/oscp/cp/2.0"}, "baseUrl"),
        ({"baseUrl": "ftp://oscp.example.com/oscp"}, "baseUrl"),
        ({"baseUrl": "/oscp/cp/2.0"}, "baseUrl"),
        ({"oscpVersion": "1.0"}, "oscpVersion"),
        ({"enabled": "sometimes"}, "enabled"),
        ({"serviceProps": {"oauth-token-url": "not a url"}}, "serviceProps"),
        ({"serviceProps": {"oauth-client-secret": 123}}, "serviceProps"),
        ({"serviceProps": ["a"]}, "serviceProps"),
        ({"measurementMessage": "both"}, "measurementMessage"),
        ({"requestIdHeaderPolicy": "theirs"}, "requestIdHeaderPolicy"),
        ({"requiredMeasurementStyles": ["CONTINUOUS"]}, "requiredMeasurementStyles"),
        ({"requiredMeasurementStyles": ["Continuous", "Continuous"]}, "requiredMeasurementStyles"),
        ({"requiredHeartbeatSeconds": 0}, "requiredHeartbeatSeconds"),
        ({"pathOverrides": {"hartbeat": "hb"}}, "pathOverrides"),
        ({"staticHeaders": {"bad header": "x"}}, "staticHeaders"),
        ({"staticHeaders": {"x-a": "line\r\nInjected: 1"}}, "staticHeaders"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(api_client, changes, field):
    payload = {**SEED_PROVIDER, **changes}
    if changes.get("name", "") is None:
        del payload["name"]

    response = api_client.post(PROVIDERS, payload, format="json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False
    assert field in body["errors"]
    assert field in body["message"]
    assert not Partner.objects.exists()
    assert not InboundToken.objects.exists()


def test_missing_required_fields_are_all_named(api_client):
    response = api_client.post(PROVIDERS, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "baseUrl"}


def test_bad_put_changes_nothing(api_client):
    created = _create(api_client)
    response = api_client.put(f"{PROVIDERS}/{created['configId']}", {"name": "New"}, format="json")
    assert response.status_code == 400
    assert "baseUrl" in response.json()["errors"]
    partner = Partner.objects.get()
    assert partner.name == "Lines Co." and partner.oauth_client_secret == "Secret.123"


def test_malformed_json_is_a_400(api_client):
    response = api_client.generic("POST", PROVIDERS, '{"name": "x",', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "JSON" in response.json()["message"]
    assert not Partner.objects.exists()


def test_history_records_the_api_user(api_client, user):
    created = _create(api_client)
    api_client.put(f"{PROVIDERS}/{created['configId']}", {**SEED_PROVIDER, "name": "Renamed"}, format="json")
    api_client.delete(f"{PROVIDERS}/{created['configId']}")

    rows = Partner.history.filter(id=created["configId"]).order_by("history_id")
    assert [(r.history_type, r.history_user_id, r.history_change_reason) for r in rows] == [
        ("+", user.id, "created"),
        ("~", user.id, "initial token issued"),
        ("~", user.id, "updated"),
        ("-", user.id, "deleted"),
    ]


def test_list_paging_filters_and_query_budget(api_client, user, django_assert_max_num_queries):
    for index in range(5):
        CapacityProviderFactory(owner=user, enabled=index % 2 == 0, name=f"P{index}")
    CapacityProviderFactory(owner=user, registration_status=RegistrationStatus.REGISTERED, name="Reg")
    CapacityOptimizerFactory(owner=user)

    with django_assert_max_num_queries(4):
        response = api_client.get(PROVIDERS)
    data = response.json()["data"]
    assert [p["name"] for p in data] == ["P0", "P1", "P2", "P3", "P4", "Reg"]
    assert response["X-Total-Count"] == "6"

    page = api_client.get(PROVIDERS, {"offset": 2, "max": 2})
    assert [p["name"] for p in page.json()["data"]] == ["P2", "P3"]
    assert page["X-Total-Count"] == "6"

    disabled = api_client.get(PROVIDERS, {"enabled": "false"}).json()["data"]
    assert [p["name"] for p in disabled] == ["P1", "P3"]
    registered = api_client.get(PROVIDERS, {"registrationStatus": "Registered"}).json()["data"]
    assert [p["name"] for p in registered] == ["Reg"]

    bad = api_client.get(PROVIDERS, {"registrationStatus": "Sideways"})
    assert bad.status_code == 400 and "registrationStatus" in bad.json()["errors"]


def test_list_queries_do_not_grow_with_rows(api_client, user, django_assert_max_num_queries):
    CapacityProviderFactory.create_batch(30, owner=user)
    with django_assert_max_num_queries(4):
        assert len(api_client.get(PROVIDERS).json()["data"]) == 30
