"""GET .../envelopes: in force at a time, or the schedule over a range; scoped to the account."""

from datetime import timedelta

import pytest

from forecasts.selectors import envelope_in_force
from tests.forecasts.conftest import T0, blocks
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db
URL = "/solaruser/api/v1/sec/user/oscp/envelopes"
Q = timedelta(minutes=15)


def test_envelope_in_force_at_a_time(api_client, group, receive):
    forecast = receive(group, "CONSUMPTION", blocks(capacity=[10, 12]))
    response = api_client.get(URL, {"microgridId": "mg-7", "nodeId": 77, "at": "2030-01-01 10:20:00Z"})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert (data["microgridId"], data["nodeId"], data["reason"]) == ("mg-7", 77, "forecast")
    assert data["importLimits"] == [
        {
            "phase": "All",
            "unit": "kW",
            "value": 12.0,
            "reason": "forecast",
            "start": "2030-01-01 10:15:00Z",
            "end": "2030-01-01 10:30:00Z",
            "forecastId": forecast.id,
            "rule": "",
        }
    ]
    assert data["exportLimits"][0]["reason"] == "default"


def test_envelope_defaults_to_now(api_client, group):
    data = api_client.get(URL, {"microgridId": "mg-7"}).json()["data"]
    assert data["importLimits"][0]["reason"] == "default"
    assert data["end"] is None


def test_schedule_over_a_range_is_a_paged_list(api_client, group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=[10, 12]))
    response = api_client.get(
        URL, {"microgridId": "mg-7", "from": "2030-01-01 10:00:00Z", "to": "2030-01-01 10:45:00Z", "max": 2}
    )
    assert response.status_code == 200
    assert response["X-Total-Count"] == "4"  # two import rows, one import gap, one export gap
    rows = response.json()["data"]
    assert [(r["quantity"], r["start"], r["value"]) for r in rows] == [
        ("export", "2030-01-01 10:00:00Z", 0.0),
        ("import", "2030-01-01 10:00:00Z", 10.0),
    ]


def test_readable_right_after_the_forecast_is_received(api_client, group, receive, at_time):
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(capacity=7))
    assert api_client.get(URL, {"microgridId": "mg-7"}).json()["data"]["importLimits"][0]["value"] == 7.0


def test_another_account_cannot_read_the_envelope(other_api_client, group):
    response = other_api_client.get(URL, {"microgridId": "mg-7"})
    assert response.status_code == 404
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "microgridId"),
        ({"microgridId": "mg-7", "at": "yesterday"}, "at"),
        ({"microgridId": "mg-7", "from": "2030-01-01 10:00:00Z"}, "to"),
        ({"microgridId": "mg-7", "from": "2030-01-01 10:00:00Z", "to": "2030-01-01 09:00:00Z"}, "to"),
        ({"microgridId": "mg-7", "at": "2030-01-01 10:00:00"}, "at"),  # no zone
    ],
)
def test_bad_query_is_a_400_naming_the_field(api_client, group, params, field):
    response = api_client.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_two_groups_on_one_target_need_a_group_id(api_client, group, receive):
    other = CapacityGroupFactory(
        owner=group.owner, capacity_provider=group.capacity_provider, microgrid_id="mg-7", node_id=77
    )
    assert api_client.get(URL, {"microgridId": "mg-7"}).status_code == 400
    response = api_client.get(URL, {"microgridId": "mg-7", "groupId": other.id})
    assert response.json()["data"]["groupId"] == other.id


def test_in_force_read_is_a_few_queries(group, receive, django_assert_max_num_queries):
    receive(group, "CONSUMPTION", blocks(capacity=5))
    with django_assert_max_num_queries(3):
        envelope_in_force(group=group, at=T0 + Q)
