"""POST .../capacity-groups/{groupId}/measurements/send: (re)send one period's report."""

from datetime import timedelta

import pytest

from connections.models import Message
from tests.groups.factories import AssetFactory, CapacityGroupFactory

from .conftest import T0

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)


def url(group):
    return f"/solaruser/api/v1/sec/user/oscp/capacity-groups/{group.id}/measurements/send"


@pytest.fixture
def group(user, add_reading):
    group = CapacityGroupFactory(owner=user, capacity_provider__owner=user)
    asset = AssetFactory(group=group)
    for minute in range(-1, 17):
        add_reading(asset, T0 + minute * M, i={"watts": 100}, a={"wattHours": 10 * minute})
    return group


def test_a_period_is_sent_and_can_be_sent_again(api_client, group):
    body = {"audience": "CapacityProvider", "periodStart": "2026-11-21 10:00:00Z"}

    first = api_client.post(url(group), body, format="json")
    again = api_client.post(url(group), body, format="json")

    assert first.status_code == again.status_code == 200
    data = first.json()["data"]
    assert data["sent"] is True
    assert data["messageType"] == "update_group_measurements"
    assert data["measurements"] == 1
    assert data["periodStart"] == "2026-11-21 10:00:00Z"
    messages = Message.objects.filter(group=group).order_by("id")
    assert [m.id for m in messages] == [data["messageId"], again.json()["data"]["messageId"]]
    assert messages[0].request_id == data["requestId"]
    assert messages[0].body["measurements"][0]["value"] == 150.0


def test_a_period_without_data_sends_nothing(api_client, group):
    response = api_client.post(url(group), {"audience": "CapacityProvider", "periodStart": "2026-11-20T10:00:00Z"})

    assert response.status_code == 200
    assert response.json()["data"]["sent"] is False
    assert response.json()["data"]["detail"] == "No readings in the period."
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"audience": "CapacityProvider", "periodStart": "2026-11-21 10:05:00Z"}, "periodStart"),  # not aligned
        ({"audience": "CapacityProvider", "periodStart": "2999-01-01 00:00:00Z"}, "periodStart"),  # not closed
        ({"audience": "CapacityProvider", "periodStart": "2026-11-21 10:00:00"}, "periodStart"),  # no zone
        ({"audience": "CapacityOptimizer", "periodStart": "2026-11-21 10:00:00Z"}, "audience"),  # none set
        ({"audience": "Grid", "periodStart": "2026-11-21 10:00:00Z"}, "audience"),
        ({"periodStart": "2026-11-21 10:00:00Z"}, "audience"),
    ],
)
def test_bad_requests_name_the_field_and_send_nothing(api_client, group, body, field):
    response = api_client.post(url(group), body, format="json")

    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}: ")
    assert not Message.objects.exists()


def test_another_accounts_group_is_not_found(other_api_client, group):
    response = other_api_client.post(
        url(group), {"audience": "CapacityProvider", "periodStart": "2026-11-21 10:00:00Z"}, format="json"
    )

    assert response.status_code == 404
    assert not Message.objects.exists()
