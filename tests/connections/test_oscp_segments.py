"""Segmented inbound messages (X-Segment-Index / X-Segment-Count)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from connections.models import Message, MessageSegment
from connections.tasks import segments_expire
from forecasts.models import Forecast
from tests.connections.conftest import block

pytestmark = pytest.mark.django_db


def forecast_text(group, hours=6):
    blocks = [
        block(start=f"2024-05-01T{h:02d}:00:00Z", end=f"2024-05-01T{h + 1:02d}:00:00Z", capacity=h)
        for h in range(hours)
    ]
    return json.dumps({"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": blocks})


def split(text, count):
    size = -(-len(text) // count)
    return [text[i * size : (i + 1) * size] for i in range(count)]


def send_part(oscp, token, part, index, count, request_id="seg-1"):
    return oscp.post(
        "update_group_capacity_forecast",
        None,
        raw=part,
        token=token,
        request_id=request_id,
        headers={"X-Segment-Index": str(index), "X-Segment-Count": str(count)},
    )


@pytest.mark.parametrize("base", [0, 1])
def test_parts_joined_in_index_order_and_processed_once(oscp, group, provider_token, base):
    parts = split(forecast_text(group), 3)
    for i, part in enumerate(parts):
        sent = send_part(oscp, provider_token, part, i + base, 3)
        assert sent.status_code == 204
        assert Forecast.objects.exists() == (i == 2)
    forecast = Forecast.objects.get()
    assert forecast.request_id == "seg-1"
    assert [b["capacity"] for b in forecast.block_list()] == list(range(6))
    assert not MessageSegment.objects.exists()
    assert list(Message.objects.filter(direction="in").order_by("id").values_list("status", flat=True)) == [
        "segment",
        "segment",
        "accepted",
    ]


def test_out_of_order_arrival(oscp, group, provider_token):
    parts = split(forecast_text(group), 4)
    for index in (2, 0, 3, 1):
        assert send_part(oscp, provider_token, parts[index], index, 4).status_code == 204
    assert len(Forecast.objects.get().block_list()) == 6


def test_resending_after_completion_is_a_duplicate(oscp, group, provider_token):
    parts = split(forecast_text(group), 2)
    for i, part in enumerate(parts):
        send_part(oscp, provider_token, part, i, 2)
    assert send_part(oscp, provider_token, parts[0], 0, 2).status_code == 204
    assert Forecast.objects.count() == 1
    assert not MessageSegment.objects.exists()


def test_joined_body_invalid_is_400_and_parts_dropped(oscp, group, provider_token):
    text = forecast_text(group).replace('"CONSUMPTION"', '"NOPE"')
    parts = split(text, 2)
    send_part(oscp, provider_token, parts[0], 0, 2)
    sent = send_part(oscp, provider_token, parts[1], 1, 2)
    assert sent.status_code == 400
    assert sent.json()["message"].startswith("type:")
    assert not Forecast.objects.exists() and not MessageSegment.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Segment-Index": "0"},
        {"X-Segment-Index": "a", "X-Segment-Count": "2"},
        {"X-Segment-Index": "3", "X-Segment-Count": "2"},
        {"X-Segment-Index": "0", "X-Segment-Count": "0"},
    ],
)
def test_bad_segment_headers_are_400(oscp, group, provider_token, headers):
    sent = oscp.post("update_group_capacity_forecast", None, raw="{", token=provider_token, headers=headers)
    assert sent.status_code == 400
    assert "X-Segment" in sent.json()["message"]
    assert not MessageSegment.objects.exists()


def test_conflicting_parts_are_400(oscp, group, provider_token):
    parts = split(forecast_text(group), 3)
    send_part(oscp, provider_token, parts[0], 0, 3)
    assert send_part(oscp, provider_token, parts[1], 1, 4).status_code == 400  # other count
    assert send_part(oscp, provider_token, parts[0], 0, 3).status_code == 400  # same part twice
    assert send_part(oscp, provider_token, parts[2], 3, 3).status_code == 400  # mixes 0- and 1-based
    assert MessageSegment.objects.count() == 1


def test_register_cannot_be_segmented(oscp, provider_token):
    sent = oscp.post(
        "register", None, raw='{"tok', token=provider_token, headers={"X-Segment-Index": "0", "X-Segment-Count": "2"}
    )
    assert sent.status_code == 400
    assert not MessageSegment.objects.exists()


def test_expired_parts_are_removed_by_the_periodic_task(oscp, group, provider_token):
    parts = split(forecast_text(group), 2)
    send_part(oscp, provider_token, parts[0], 0, 2, request_id="old")
    send_part(oscp, provider_token, parts[0], 0, 2, request_id="fresh")
    MessageSegment.objects.filter(request_id="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert segments_expire() == 1
    assert list(MessageSegment.objects.values_list("request_id", flat=True)) == ["fresh"]
    # The last part of an expired message now starts a new, incomplete one.
    assert send_part(oscp, provider_token, parts[1], 1, 2, request_id="old").status_code == 204
    assert not Forecast.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parts_arriving_together_complete_once(group, provider_token):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from tests.connections.conftest import OscpClient

    parts = split(forecast_text(group), 6)

    def send(index):
        try:
            return send_part(OscpClient(), provider_token, parts[index], index, 6).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(send, range(6)))
    assert statuses == [204] * 6
    assert Forecast.objects.count() == 1 and len(Forecast.objects.get().block_list()) == 6
    assert not MessageSegment.objects.exists()
