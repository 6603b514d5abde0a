"""Forecasted blocks are checked by plain functions (``connections/oscp/blocks.py``) for speed; they
accept, refuse and word their errors exactly as the declared ``ForecastedBlockSerializer``."""

from decimal import Decimal

import pytest
from rest_framework import serializers

from connections.oscp.blocks import blocks_parse
from connections.oscp.serializers import ForecastedBlockSerializer, errors_message

GOOD = {
    "capacity": 10.5,
    "phase": "ALL",
    "unit": "KW",
    "start_time": "2024-05-01T00:00:00Z",
    "end_time": "2024-05-01T00:15:00Z",
}

CASES = [
    {},
    {"capacity": -3},
    {"capacity": "12.25"},
    {"capacity": "lots"},
    {"capacity": True},
    {"capacity": None},
    {"capacity": 10**12},
    {"capacity": 10**400},
    {"capacity": "9" * 1001},
    {"capacity": [1]},
    {"phase": "L1"},
    {"phase": 3},
    {"unit": "kW"},
    {"unit": None},
    {"start_time": "2024-05-01T08:00:00+08:00"},
    {"start_time": "2024-05-01 00:00:00z"},
    {"start_time": "2024-05-01T00:00:00"},
    {"start_time": "2024-13-01T00:00:00Z"},
    {"start_time": "0001-01-01T00:00:00+14:00"},
    {"start_time": 1714521600},
    {"end_time": "2024-05-01T00:00:00Z"},
    {"end_time": "2024-04-30T00:00:00Z", "capacity": "x"},
]


def serializer_outcome(item, context):
    serializer = ForecastedBlockSerializer(data=[item], many=True, context=context)
    if serializer.is_valid():
        return dict(serializer.validated_data[0]), None
    return None, errors_message(serializer.errors)


def parser_outcome(item, context):
    try:
        return blocks_parse([item], partner=context["partner"], deviations=context["deviations"])[0], None
    except serializers.ValidationError as exc:
        return None, errors_message(exc.detail)


class Partner:
    def __init__(self, naive_times_as_utc):
        self.naive_times_as_utc = naive_times_as_utc


@pytest.mark.parametrize("naive_as_utc", [False, True])
@pytest.mark.parametrize("change", CASES + [{"gone": name} for name in GOOD] + ["not a block", None])
def test_the_plain_check_agrees_with_the_declared_serializer(change, naive_as_utc):
    if isinstance(change, dict) and "gone" in change:
        item = {key: value for key, value in GOOD.items() if key != change["gone"]}
    elif isinstance(change, dict):
        item = {**GOOD, **change}
    else:
        item = change
    context = {"partner": Partner(naive_as_utc), "deviations": []}
    expected_context = {"partner": Partner(naive_as_utc), "deviations": []}

    assert parser_outcome(item, context) == serializer_outcome(item, expected_context)
    assert context["deviations"] == expected_context["deviations"]


def test_every_bad_block_is_named_by_its_index():
    bad_phase, bad_end = {**GOOD, "phase": "L1"}, {**GOOD, "end_time": GOOD["start_time"]}
    with pytest.raises(serializers.ValidationError) as raised:
        blocks_parse([GOOD, bad_phase, GOOD, bad_end])
    assert errors_message({"forecasted_blocks": raised.value.detail}) == (
        'forecasted_blocks[1].phase: "L1" is not valid; expected one of UNKNOWN, ONE, TWO, THREE, ALL.; '
        "forecasted_blocks[3].end_time: Must be after start_time."
    )


def test_blocks_come_out_as_plain_values_in_utc():
    (parsed,) = blocks_parse([{**GOOD, "start_time": "2024-05-01T08:00:00+08:00"}])
    assert parsed["capacity"] == Decimal("10.500000")
    assert parsed["start_time"].isoformat() == "2024-05-01T00:00:00+00:00"


def test_a_capacity_seen_earlier_in_the_message_is_judged_by_its_own_type():
    """Capacities repeat within a forecast and are parsed once each; ``True`` equals ``1`` in
    Python, yet it is still refused after a ``1``, and a negative one still noted."""
    capacities = [1, True, 1.0, "1", -2, -2, [1]]
    deviations = []
    with pytest.raises(serializers.ValidationError) as refused:
        blocks_parse([{**GOOD, "capacity": c} for c in capacities], deviations=deviations)

    assert sorted(refused.value.detail) == [1, 6]
    assert deviations == ["negative capacity accepted"]
    parsed = blocks_parse([{**GOOD, "capacity": c} for c in (1, 1.0, "1", -2)])
    assert [b["capacity"] for b in parsed] == [Decimal("1.000000")] * 3 + [Decimal("-2.000000")]
