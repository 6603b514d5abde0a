"""Management API: Capacity Groups (seed 004 shapes)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import Asset, CapacityGroup
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory
from tests.forecasts.factories import ForecastFactory, block
from tests.groups.factories import AssetFactory, CapacityGroupFactory

GROUPS = "/solaruser/api/v1/sec/user/oscp/capacity-groups"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?Z$")

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(user):
    return CapacityProviderFactory(owner=user)


@pytest.fixture
def optimizer(user):
    return CapacityOptimizerFactory(owner=user)


@pytest.fixture
def seed(provider, optimizer):
    return {
        "name": "My Group",
        "identifier": "my-group",
        "capacityProviderId": provider.id,
        "capacityProviderMeasurementPeriod": "FifteenMinute",
        "capacityOptimizerId": optimizer.id,
        "capacityOptimizerMeasurementPeriod": "FiveMinute",
        "enabled": True,
    }


def test_create_returns_the_seed_shape(api_client, user, seed, provider, optimizer):
    response = api_client.post(GROUPS, seed, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    group = CapacityGroup.objects.get()
    assert list(data)[:11] == [
        "userId",
        "configId",
        "created",
        "modified",
        "name",
        "enabled",
        "identifier",
        "capacityProviderMeasurementPeriod",
        "capacityOptimizerMeasurementPeriod",
        "capacityProviderId",
        "capacityOptimizerId",
    ]
    assert data["userId"] == user.id
    assert data["configId"] == group.id
    assert TIMESTAMP.match(data["created"])
    assert {k: data[k] for k in seed} == seed
    assert data["mode"] == "forecast-gap"
    assert TIMESTAMP.match(data["modeSince"])
    assert group.capacity_provider == provider and group.capacity_optimizer == optimizer


def test_binding_and_fallback_limits_round_trip(api_client, seed):
    payload = {**seed, "microgridId": "mg-7", "nodeId": 42, "fallbackImportKw": 22.5, "fallbackExportKw": 0}
    data = api_client.post(GROUPS, payload, format="json").json()["data"]
    assert data["microgridId"] == "mg-7" and data["nodeId"] == 42
    assert data["fallbackImportKw"] == 22.5 and data["fallbackExportKw"] == 0
    group = CapacityGroup.objects.get()
    assert str(group.fallback_import_kw) == "22.500"


def test_group_without_optimizer(api_client, seed):
    payload = {k: v for k, v in seed.items() if not k.startswith("capacityOptimizer")}
    response = api_client.post(GROUPS, payload, format="json")
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["capacityOptimizerId"] is None
    assert data["capacityOptimizerMeasurementPeriod"] is None


def test_view_update_delete(api_client, seed, provider):
    created = api_client.post(GROUPS, seed, format="json").json()["data"]
    url = f"{GROUPS}/{created['configId']}"

    view = api_client.get(url)
    assert view.status_code == 200
    assert view.json()["data"]["identifier"] == "my-group"

    # Full replace: the optimizer and binding left out are removed.
    api_client.put(url, {**seed, "microgridId": "mg-1"}, format="json")
    replacement = {
        "name": "Renamed",
        "identifier": "renamed",
        "capacityProviderId": provider.id,
        "capacityProviderMeasurementPeriod": "Hour",
    }
    response = api_client.put(url, replacement, format="json")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["name"] == "Renamed" and data["capacityProviderMeasurementPeriod"] == "Hour"
    assert data["capacityOptimizerId"] is None and data["microgridId"] == ""
    group = CapacityGroup.objects.get()
    assert group.capacity_optimizer is None and group.identifier == "renamed"

    AssetFactory(group=group)
    response = api_client.delete(url)
    assert response.status_code == 204 and response.content == b""
    assert not CapacityGroup.objects.exists() and not Asset.objects.exists()
    assert api_client.get(url).status_code == 404


def test_put_may_keep_its_own_identifier(api_client, seed):
    created = api_client.post(GROUPS, seed, format="json").json()["data"]
    response = api_client.put(f"{GROUPS}/{created['configId']}", {**seed, "name": "Same id"}, format="json")
    assert response.status_code == 200


def test_other_accounts_group_is_not_found(api_client, other_user, seed):
    theirs = CapacityGroupFactory(capacity_provider=CapacityProviderFactory(owner=other_user))
    url = f"{GROUPS}/{theirs.id}"
    assert api_client.get(url).status_code == 404
    assert api_client.put(url, seed, format="json").status_code == 404
    assert api_client.delete(url).status_code == 404
    assert api_client.get(f"{url}/assets").status_code == 404
    assert CapacityGroup.objects.get().name == theirs.name
    assert api_client.get(GROUPS).json()["data"] == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "x" * 65}, "name"),
        ({"identifier": ""}, "identifier"),
        ({"identifier": "x" * 65}, "identifier"),
        ({"capacityProviderMeasurementPeriod": "TwoMinute"}, "capacityProviderMeasurementPeriod"),
        ({"capacityOptimizerMeasurementPeriod": "fiveminute"}, "capacityOptimizerMeasurementPeriod"),
        ({"capacityOptimizerMeasurementPeriod": None}, "capacityOptimizerMeasurementPeriod"),
        ({"capacityProviderId": 999999}, "capacityProviderId"),
        ({"capacityProviderId": "abc"}, "capacityProviderId"),
        ({"capacityOptimizerId": 999999}, "capacityOptimizerId"),
        ({"fallbackImportKw": -1}, "fallbackImportKw"),
        ({"fallbackExportKw": "-0.5"}, "fallbackExportKw"),
        ({"nodeId": "node"}, "nodeId"),
        ({"enabled": "maybe"}, "enabled"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(api_client, seed, changes, field):
    response = api_client.post(GROUPS, {**seed, **changes}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False
    assert field in body["errors"] and field in body["message"]
    assert not CapacityGroup.objects.exists()


def test_update_with_a_negative_fallback_limit_is_refused(api_client, seed):
    created = api_client.post(GROUPS, seed, format="json").json()["data"]
    url = f"{GROUPS}/{created['configId']}"
    response = api_client.put(url, {**seed, "fallbackImportKw": 5, "fallbackExportKw": -1}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body["errors"]) == ["fallbackExportKw"]
    assert body["message"] == "fallbackExportKw: Must not be negative."
    group = CapacityGroup.objects.get()
    assert group.fallback_import_kw is None and group.fallback_export_kw is None


def test_partner_ids_must_be_own_and_of_the_right_role(api_client, other_user, seed, provider, optimizer):
    cases = [
        ({"capacityProviderId": CapacityProviderFactory(owner=other_user).id}, "capacityProviderId"),
        ({"capacityOptimizerId": CapacityOptimizerFactory(owner=other_user).id}, "capacityOptimizerId"),
        ({"capacityProviderId": optimizer.id}, "capacityProviderId"),
        ({"capacityOptimizerId": provider.id}, "capacityOptimizerId"),
    ]
    for changes, field in cases:
        response = api_client.post(GROUPS, {**seed, **changes}, format="json")
        assert response.status_code == 400, changes
        assert list(response.json()["errors"]) == [field]
    assert not CapacityGroup.objects.exists()


@pytest.mark.parametrize("field", ["name", "identifier", "capacityProviderId", "capacityProviderMeasurementPeriod"])
def test_missing_required_field(api_client, seed, field):
    payload = {k: v for k, v in seed.items() if k != field}
    response = api_client.post(GROUPS, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not CapacityGroup.objects.exists()


def test_duplicate_identifier_per_owner(api_client, other_api_client, other_user, seed):
    assert api_client.post(GROUPS, seed, format="json").status_code == 201
    response = api_client.post(GROUPS, {**seed, "name": "Again"}, format="json")
    assert response.status_code == 400
    assert "identifier" in response.json()["errors"]
    assert CapacityGroup.objects.count() == 1

    # Another account may use the same identifier.
    theirs = CapacityProviderFactory(owner=other_user)
    response = other_api_client.post(
        GROUPS,
        {
            "name": "Theirs",
            "identifier": seed["identifier"],
            "capacityProviderId": theirs.id,
            "capacityProviderMeasurementPeriod": "Hour",
        },
        format="json",
    )
    assert response.status_code == 201, response.content


def test_malformed_json(api_client):
    response = api_client.generic("POST", GROUPS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert not CapacityGroup.objects.exists()


def test_history_records_the_api_user(api_client, user, seed):
    created = api_client.post(GROUPS, seed, format="json").json()["data"]
    api_client.put(f"{GROUPS}/{created['configId']}", {**seed, "name": "Renamed"}, format="json")
    api_client.delete(f"{GROUPS}/{created['configId']}")
    rows = CapacityGroup.history.filter(id=created["configId"]).order_by("history_id")
    assert [(r.history_type, r.history_user_id) for r in rows] == [("+", user.id), ("~", user.id), ("-", user.id)]


def test_list_paging_filters_and_query_budget(api_client, user, provider, optimizer, django_assert_max_num_queries):
    other_provider = CapacityProviderFactory(owner=user)
    for index in range(20):
        CapacityGroupFactory(
            capacity_provider=provider if index % 2 else other_provider,
            capacity_optimizer=optimizer if index < 3 else None,
            capacity_optimizer_measurement_period="FiveMinute" if index < 3 else "",
            enabled=index != 4,
            identifier=f"g-{index:02d}",
        )
    CapacityGroupFactory()  # another account's

    with django_assert_max_num_queries(4):
        response = api_client.get(GROUPS)
    assert response.status_code == 200
    assert len(response.json()["data"]) == 20
    assert response["X-Total-Count"] == "20"

    page = api_client.get(GROUPS, {"offset": 5, "max": 3}).json()["data"]
    assert [g["identifier"] for g in page] == ["g-05", "g-06", "g-07"]

    def identifiers(**params):
        return [g["identifier"] for g in api_client.get(GROUPS, params).json()["data"]]

    assert identifiers(enabled="false") == ["g-04"]
    assert identifiers(identifier="g-11") == ["g-11"]
    assert identifiers(capacityOptimizerId=optimizer.id) == ["g-00", "g-01", "g-02"]
    assert len(identifiers(capacityProviderId=provider.id)) == 10


def test_forecast_stale_follows_the_providers_cadence(api_client, user, django_assert_max_num_queries):
    vector = CapacityProviderFactory(owner=user, forecast_cadence_minutes=15)
    standard = CapacityProviderFactory(owner=user)
    fresh = CapacityGroupFactory(owner=user, capacity_provider=vector, identifier="fresh")
    stale = CapacityGroupFactory(owner=user, capacity_provider=vector, identifier="stale")
    CapacityGroupFactory(owner=user, capacity_provider=standard, identifier="nocadence")
    ForecastFactory(group=fresh, sender=vector, received_at=timezone.now() - timedelta(minutes=5))
    ForecastFactory(group=stale, sender=vector, received_at=timezone.now() - timedelta(minutes=20))
    with django_assert_max_num_queries(6):
        data = api_client.get(GROUPS).json()["data"]
    shown = {g["identifier"]: g["forecastStale"] for g in data}
    assert shown == {"fresh": False, "stale": True, "nocadence": None}


def test_forecast_stale_when_the_last_forecast_falls_short_of_the_horizon(api_client, user):
    """Vector: a forecast every 15 minutes for 24 hours. A fresh one reaching only 2 hours ahead
    is stale; one reaching 24 hours ahead is not."""
    vector = CapacityProviderFactory(owner=user, forecast_cadence_minutes=15, forecast_horizon_hours=24)
    short = CapacityGroupFactory(owner=user, capacity_provider=vector, identifier="short")
    full = CapacityGroupFactory(owner=user, capacity_provider=vector, identifier="full")
    now = timezone.now()
    for group, hours in ((short, 2), (full, 24)):
        ForecastFactory(
            group=group,
            sender=vector,
            received_at=now - timedelta(minutes=5),
            block_list=[block(now, now + timedelta(hours=hours))],
        )
    shown = {g["identifier"]: g["forecastStale"] for g in api_client.get(GROUPS).json()["data"]}
    assert shown == {"short": True, "full": False}
