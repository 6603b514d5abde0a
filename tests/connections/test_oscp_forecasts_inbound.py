"""update_group_capacity_forecast from a Capacity Provider: what gets stored, what is refused."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from connections.models import Message
from forecasts.models import Forecast
from tests.connections.conftest import block

pytestmark = pytest.mark.django_db


def forecast(group, blocks, type_="CONSUMPTION"):
    return {"group_id": group.identifier, "type": type_, "forecasted_blocks": blocks}


def hourly_blocks(day="2024-05-01", offset="+08:00", hours=24, capacity=50):
    return [
        block(start=f"{day}T{h:02d}:00:00{offset}", end=f"{day}T{h:02d}:59:59.999{offset}", capacity=capacity)
        if h == hours - 1
        else block(start=f"{day}T{h:02d}:00:00{offset}", end=f"{day}T{h + 1:02d}:00:00{offset}", capacity=capacity)
        for h in range(hours)
    ]


def test_24_hourly_blocks_with_offset_stored_in_utc(oscp, group, provider, provider_token):
    sent = oscp.post("update_group_capacity_forecast", forecast(group, hourly_blocks()), token=provider_token)
    assert sent.status_code == 204
    stored = Forecast.objects.get()
    assert (stored.group, stored.sender, stored.type, stored.request_id) == (
        group,
        provider,
        "CONSUMPTION",
        sent.request_id,
    )
    blocks = stored.block_list()
    assert len(blocks) == 24
    assert blocks[0]["start_time"] == datetime(2024, 4, 30, 16, tzinfo=UTC)
    assert blocks[1]["start_time"] - blocks[0]["start_time"] == timedelta(hours=1)
    assert blocks[0]["capacity"] == Decimal("50") and blocks[0]["unit"] == "KW"
    assert (stored.starts_at, stored.ends_at) == (blocks[0]["start_time"], blocks[-1]["end_time"])
    assert stored.message == Message.objects.get(direction="in", status="accepted")


@pytest.mark.parametrize(
    "type_", ["CONSUMPTION", "GENERATION", "FALLBACK_CONSUMPTION", "FALLBACK_GENERATION", "OPTIMUM"]
)
def test_every_forecast_type_is_stored(oscp, group, provider_token, type_):
    assert (
        oscp.post("update_group_capacity_forecast", forecast(group, [block()], type_), token=provider_token).status_code
        == 204
    )
    assert Forecast.objects.get().type == type_


def test_per_phase_blocks_with_same_times(oscp, group, provider_token):
    blocks = [block(phase=p, capacity=c, unit="A") for p, c in (("ONE", 16), ("TWO", 16), ("THREE", 10))]
    assert oscp.post("update_group_capacity_forecast", forecast(group, blocks), token=provider_token).status_code == 204
    stored = {b["phase"]: b["capacity"] for b in Forecast.objects.get().block_list()}
    assert stored == {"ONE": Decimal(16), "TWO": Decimal(16), "THREE": Decimal(10)}


def test_zero_profile_is_a_valid_forecast(oscp, group, provider_token):
    sent = oscp.post("update_group_capacity_forecast", forecast(group, hourly_blocks(capacity=0)), token=provider_token)
    assert sent.status_code == 204
    assert {b["capacity"] for b in Forecast.objects.get().block_list()} == {Decimal(0)}


def test_negative_capacity_is_accepted_and_recorded(oscp, group, provider_token):
    assert (
        oscp.post(
            "update_group_capacity_forecast", forecast(group, [block(capacity=-5)]), token=provider_token
        ).status_code
        == 204
    )
    assert Forecast.objects.get().block_list()[0]["capacity"] == Decimal(-5)
    assert "negative capacity" in Message.objects.get(direction="in").error


def test_capacity_decimals_kept(oscp, group, provider_token):
    oscp.post("update_group_capacity_forecast", forecast(group, [block(capacity=123.456)]), token=provider_token)
    assert Forecast.objects.get().block_list()[0]["capacity"] == Decimal("123.456")


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda b: b.update(forecasted_blocks=[]), "forecasted_blocks: This list may not be empty."),
        (lambda b: b.pop("forecasted_blocks"), "forecasted_blocks: This field is required."),
        (lambda b: b.pop("group_id"), "group_id: This field is required."),
        (lambda b: b.update(type="MAXIMUM"), 'type: "MAXIMUM" is not valid; expected one of CONSUMPTION'),
        (lambda b: b["forecasted_blocks"][1].update(phase="L1"), "forecasted_blocks[1].phase:"),
        (lambda b: b["forecasted_blocks"][1].update(unit="kW"), "forecasted_blocks[1].unit:"),
        (lambda b: b["forecasted_blocks"][1].update(capacity="lots"), "forecasted_blocks[1].capacity:"),
        (lambda b: b["forecasted_blocks"][1].update(capacity=True), "forecasted_blocks[1].capacity:"),
        (lambda b: b["forecasted_blocks"][1].pop("end_time"), "forecasted_blocks[1].end_time: This field is required."),
        (
            lambda b: b["forecasted_blocks"][1].update(end_time=b["forecasted_blocks"][1]["start_time"]),
            "forecasted_blocks[1].end_time: Must be after start_time.",
        ),
        (
            lambda b: b["forecasted_blocks"][1].update(start_time="2024-05-01T01:00:00"),
            "forecasted_blocks[1].start_time:",
        ),
    ],
)
def test_invalid_forecast_is_400_and_nothing_stored(oscp, group, provider_token, mutate, expected):
    body = forecast(group, hourly_blocks(hours=3))
    mutate(body)
    sent = oscp.post("update_group_capacity_forecast", body, token=provider_token)
    assert sent.status_code == 400
    assert sent.json()["message"].startswith(expected)
    assert not Forecast.objects.exists()
    row = Message.objects.get()
    assert (row.status, row.http_status, row.error) == ("rejected", 400, sent.json()["message"])


def test_naive_times_read_as_utc_when_profile_says_so(oscp, group, provider, provider_token):
    provider.naive_times_as_utc = True
    provider.save()
    body = forecast(group, [block(start="2024-05-01 00:00:00", end="2024-05-01T01:00:00")])
    assert oscp.post("update_group_capacity_forecast", body, token=provider_token).status_code == 204
    [stored] = Forecast.objects.get().block_list()
    assert stored["start_time"] == datetime(2024, 5, 1, tzinfo=UTC)


def test_disabled_group_is_refused(oscp, group, provider_token):
    group.enabled = False
    group.save()
    sent = oscp.post("update_group_capacity_forecast", forecast(group, [block()]), token=provider_token)
    assert sent.status_code == 404
    assert "disabled" in sent.json()["message"]
    assert not Forecast.objects.exists()


def test_forecast_is_forwarded_once_to_the_groups_optimizer(oscp, group, provider_token):
    sent = oscp.post("update_group_capacity_forecast", forecast(group, [block()]), token=provider_token)
    [out] = Message.objects.filter(direction="out")
    assert (out.partner, out.message_type, out.request_id) == (
        group.capacity_optimizer,
        "update_group_capacity_forecast",
        sent.request_id,
    )


def test_a_forecast_keeps_the_partner_fresh_in_the_management_api(oscp, group, provider, provider_token):
    """``forecastStale`` on the partner: its cadence passed since its last forecast (or none yet)."""
    provider.forecast_cadence_minutes = 15
    provider.save()
    client = Client(headers={"Authorization": f"Token {Token.objects.create(user=provider.owner).key}"})
    url = f"/solaruser/api/v1/sec/user/oscp/capacity-providers/{provider.id}"
    assert client.get(url).json()["data"]["forecastStale"] is True  # never sent one
    history_rows = provider.history.count()

    assert (
        oscp.post("update_group_capacity_forecast", forecast(group, [block()]), token=provider_token).status_code == 204
    )

    shown = client.get(url).json()["data"]
    assert shown["forecastStale"] is False and shown["lastForecastReceivedAt"] is not None
    provider.refresh_from_db()
    assert provider.forecast_stale(now=timezone.now() + timedelta(minutes=16)) is True
    assert provider.history.count() == history_rows  # bookkeeping: no history row
