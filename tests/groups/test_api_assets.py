"""Management API: Assets and a group's asset list (seed 004 shapes)."""

import copy
import re

import pytest

from groups.models import Asset
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory
from tests.groups.factories import AssetFactory, CapacityGroupFactory

BASE = "/solaruser/api/v1/sec/user/oscp"
ASSETS = f"{BASE}/assets"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?Z$")

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(user):
    return CapacityGroupFactory(capacity_provider=CapacityProviderFactory(owner=user))


@pytest.fixture
def seed(group):
    return {
        "name": "Charger 1",
        "capacityGroupId": group.id,
        "identifier": "XYZ.ABC.123",
        "audience": "CapacityProvider",
        "enabled": True,
        "nodeId": 123,
        "sourceId": "charger/1",
        "category": "Charging",
        "phase": "All",
        "instantaneous": {"propertyNames": ["watts"], "unit": "W", "statisticType": "Maximum"},
        "energy": {
            "propertyNames": ["wattHours"],
            "unit": "Wh",
            "statisticType": "Difference",
            "type": "Total",
            "direction": "Import",
        },
    }


def test_create_returns_the_seed_shape(api_client, user, seed, group):
    response = api_client.post(ASSETS, seed, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    asset = Asset.objects.get()
    assert list(data) == [
        "userId",
        "configId",
        "created",
        "modified",
        "name",
        "enabled",
        "capacityGroupId",
        "identifier",
        "audience",
        "nodeId",
        "sourceId",
        "category",
        "phase",
        "instantaneous",
        "energy",
    ]
    assert data["userId"] == user.id and data["configId"] == asset.id
    assert TIMESTAMP.match(data["created"]) and TIMESTAMP.match(data["modified"])
    assert {k: data[k] for k in seed} == seed
    assert asset.group == group and asset.energy["direction"] == "Import"


def test_group_id_as_string_is_accepted(api_client, seed, group):
    response = api_client.post(ASSETS, {**seed, "capacityGroupId": str(group.id)}, format="json")
    assert response.status_code == 201
    assert response.json()["data"]["capacityGroupId"] == group.id


def test_multiplier_is_kept(api_client, seed):
    seed["instantaneous"]["multiplier"] = 0.001
    data = api_client.post(ASSETS, seed, format="json").json()["data"]
    assert data["instantaneous"]["multiplier"] == 0.001


def test_view_update_delete(api_client, seed):
    created = api_client.post(ASSETS, seed, format="json").json()["data"]
    url = f"{ASSETS}/{created['configId']}"

    assert api_client.get(url).json()["data"] == created

    replacement = {k: v for k, v in seed.items() if k not in ("energy", "phase", "enabled")}
    replacement["name"] = "Charger 1b"
    response = api_client.put(url, replacement, format="json")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["name"] == "Charger 1b"
    assert data["energy"] is None and data["phase"] == "All" and data["enabled"] is True
    assert Asset.objects.get().energy is None

    response = api_client.delete(url)
    assert response.status_code == 204 and response.content == b""
    assert not Asset.objects.exists()


def test_move_asset_to_another_own_group(api_client, seed, user):
    created = api_client.post(ASSETS, seed, format="json").json()["data"]
    other = CapacityGroupFactory(capacity_provider=CapacityProviderFactory(owner=user))
    response = api_client.put(f"{ASSETS}/{created['configId']}", {**seed, "capacityGroupId": other.id}, format="json")
    assert response.status_code == 200
    assert Asset.objects.get().group == other


def test_other_accounts_asset_is_not_found(api_client, seed):
    theirs = AssetFactory()
    url = f"{ASSETS}/{theirs.id}"
    assert api_client.get(url).status_code == 404
    assert api_client.put(url, seed, format="json").status_code == 404
    assert api_client.delete(url).status_code == 404
    assert Asset.objects.get().name == theirs.name
    assert api_client.get(ASSETS).json()["data"] == []


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["name"], "x" * 65, "name"),
        (["identifier"], "  ", "identifier"),
        (["audience"], "Grid", "audience"),
        (["category"], "CHARGING", "category"),
        (["phase"], "ONE", "phase"),
        (["nodeId"], "abc", "nodeId"),
        (["nodeId"], -1, "nodeId"),
        (["sourceId"], "", "sourceId"),
        (["capacityGroupId"], 999999, "capacityGroupId"),
        (["instantaneous", "unit"], "MW", "instantaneous"),
        (["instantaneous", "statisticType"], "Median", "instantaneous"),
        (["instantaneous", "propertyNames"], [], "instantaneous"),
        (["instantaneous", "multiplier"], "lots", "instantaneous"),
        (["energy", "unit"], "W", "energy"),
        (["energy", "type"], "Green", "energy"),
        (["energy", "direction"], "Sideways", "energy"),
        (["energy"], "Wh", "energy"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(api_client, seed, path, value, field):
    payload = copy.deepcopy(seed)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    response = api_client.post(ASSETS, payload, format="json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False
    assert field in body["errors"] and field in body["message"]
    assert not Asset.objects.exists()


def test_missing_energy_fields_are_named(api_client, seed):
    del seed["energy"]["direction"]
    response = api_client.post(ASSETS, seed, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"energy": {"direction": ["This field is required."]}}
    assert "energy.direction" in response.json()["message"]


@pytest.mark.parametrize(
    "field", ["name", "capacityGroupId", "identifier", "audience", "nodeId", "sourceId", "category"]
)
def test_missing_required_field(api_client, seed, field):
    del seed[field]
    response = api_client.post(ASSETS, seed, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Asset.objects.exists()


def test_another_accounts_group_is_a_bad_group_id(api_client, seed):
    theirs = CapacityGroupFactory()
    response = api_client.post(ASSETS, {**seed, "capacityGroupId": theirs.id}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["capacityGroupId"]
    assert not Asset.objects.exists()


def test_duplicate_identifier_per_group(api_client, seed, user):
    assert api_client.post(ASSETS, seed, format="json").status_code == 201
    response = api_client.post(ASSETS, {**seed, "name": "Again"}, format="json")
    assert response.status_code == 400
    assert "identifier" in response.json()["errors"]
    assert Asset.objects.count() == 1

    other_group = CapacityGroupFactory(capacity_provider=CapacityProviderFactory(owner=user))
    response = api_client.post(ASSETS, {**seed, "capacityGroupId": other_group.id}, format="json")
    assert response.status_code == 201


def test_optimizer_audience_needs_a_group_with_an_optimizer(api_client, seed, group, user):
    response = api_client.post(ASSETS, {**seed, "audience": "CapacityOptimizer"}, format="json")
    assert response.status_code == 400
    assert "audience" in response.json()["errors"]

    group.capacity_optimizer = CapacityOptimizerFactory(owner=user)
    group.capacity_optimizer_measurement_period = "FiveMinute"
    group.save()
    response = api_client.post(ASSETS, {**seed, "audience": "CapacityOptimizer"}, format="json")
    assert response.status_code == 201


def test_history_records_the_api_user(api_client, user, seed):
    created = api_client.post(ASSETS, seed, format="json").json()["data"]
    api_client.put(f"{ASSETS}/{created['configId']}", {**seed, "name": "Renamed"}, format="json")
    api_client.delete(f"{ASSETS}/{created['configId']}")
    rows = Asset.history.filter(id=created["configId"]).order_by("history_id")
    assert [(r.history_type, r.history_user_id) for r in rows] == [("+", user.id), ("~", user.id), ("-", user.id)]


def test_group_assets_list(api_client, user, group, django_assert_max_num_queries):
    other_group = CapacityGroupFactory(capacity_provider=group.capacity_provider)
    mine = AssetFactory.create_batch(12, group=group)
    AssetFactory.create_batch(3, group=other_group)

    url = f"{BASE}/capacity-groups/{group.id}/assets"
    with django_assert_max_num_queries(5):
        response = api_client.get(url)
    assert response.status_code == 200
    data = response.json()["data"]
    assert [a["configId"] for a in data] == [a.id for a in mine]
    assert all(a["capacityGroupId"] == group.id and a["userId"] == user.id for a in data)
    assert response["X-Total-Count"] == "12"

    page = api_client.get(url, {"offset": 10, "max": 5}).json()["data"]
    assert [a["configId"] for a in page] == [a.id for a in mine[10:]]
    assert api_client.get(f"{url}/").status_code == 200
    assert api_client.get(f"{BASE}/capacity-groups/999999/assets").status_code == 404


def test_assets_list_filters_and_query_budget(api_client, user, group, django_assert_max_num_queries):
    other_group = CapacityGroupFactory(capacity_provider=group.capacity_provider)
    AssetFactory.create_batch(10, group=group)
    optimized = AssetFactory(group=other_group, audience="CapacityOptimizer", identifier="opt-1")
    AssetFactory()  # another account's

    with django_assert_max_num_queries(4):
        response = api_client.get(ASSETS)
    assert len(response.json()["data"]) == 11

    def ids(**params):
        return [a["configId"] for a in api_client.get(ASSETS, params).json()["data"]]

    assert ids(capacityGroupId=other_group.id) == [optimized.id]
    assert ids(audience="CapacityOptimizer") == [optimized.id]
    assert ids(identifier="opt-1") == [optimized.id]
    bad = api_client.get(ASSETS, {"audience": "Grid"})
    assert bad.status_code == 400 and "audience" in bad.json()["errors"]
