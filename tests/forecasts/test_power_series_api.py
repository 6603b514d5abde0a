"""GET .../capacity-groups/{id}/power-series: the group chart's data (limits and measured power, kW)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import CapacityGroup
from tests.forecasts.conftest import T0, blocks

pytestmark = pytest.mark.django_db
URL = "/solaruser/api/v1/sec/user/oscp/capacity-groups/{}/power-series"


def _limits(data, quantity):
    return [
        (row["source"], row["start"], row["end"], row["value"]) for row in data["limits"] if row["quantity"] == quantity
    ]


def test_limits_from_forecast_and_fallback_only_since_the_group_existed(api_client, group, receive):
    CapacityGroup.objects.filter(pk=group.pk).update(created=T0 - timedelta(hours=1), fallback_import_kw=5.5)
    group.refresh_from_db()
    forecast = receive(group, "CONSUMPTION", blocks(capacity=[10, 12.25], count=2))

    response = api_client.get(URL.format(group.id), {"from": "2030-01-01 07:00:00Z", "to": "2030-01-01 12:00:00Z"})

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["groupId"], data["unit"], data["timeZone"]) == (group.id, "kW", "UTC")
    assert (data["from"], data["to"], data["groupCreated"]) == (
        "2030-01-01 07:00:00Z",
        "2030-01-01 12:00:00Z",
        "2030-01-01 09:00:00Z",
    )
    # Nothing before the group existed (09:00), not even a fallback; the forecast where it covers.
    assert _limits(data, "import") == [
        ("fallback", "2030-01-01 09:00:00Z", "2030-01-01 10:00:00Z", 5.5),
        ("forecast", "2030-01-01 10:00:00Z", "2030-01-01 10:15:00Z", 10.0),
        ("forecast", "2030-01-01 10:15:00Z", "2030-01-01 10:30:00Z", 12.25),
        ("fallback", "2030-01-01 10:30:00Z", "2030-01-01 12:00:00Z", 5.5),
    ]
    assert {row["forecastId"] for row in data["limits"] if row["source"] == "forecast"} == {forecast.id}
    # Export is drawn downwards: the platform default of 0 kW, never "-0".
    assert _limits(data, "export") == [("fallback", "2030-01-01 09:00:00Z", "2030-01-01 12:00:00Z", 0.0)]
    assert '"value": -0' not in response.content.decode()


def test_defaults_to_the_last_and_next_24_hours(api_client, group):
    before = timezone.now()
    data = api_client.get(URL.format(group.id)).json()["data"]
    start, end = (timezone.datetime.fromisoformat(data[key].replace(" ", "T")) for key in ("from", "to"))
    assert end - start == timedelta(hours=48)
    assert before - timedelta(hours=24, seconds=5) <= start <= timezone.now() - timedelta(hours=24)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2030-01-01 12:00:00Z", "to": "2030-01-01 10:00:00Z"}, "to"),
        ({"from": "2030-01-01 00:00:00Z", "to": "2030-03-01 00:00:00Z"}, "to"),
        ({"from": "yesterday"}, "from"),
    ],
)
def test_bad_ranges_are_400_naming_the_field(api_client, group, params, field):
    response = api_client.get(URL.format(group.id), params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}:")


def test_another_accounts_group_is_404(other_api_client, group):
    assert other_api_client.get(URL.format(group.id)).status_code == 404
