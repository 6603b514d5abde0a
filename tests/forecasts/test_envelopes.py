"""The pure schedule rules: unit conversion, newest-wins layering, offline cut-over."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from forecasts.envelopes import Block, Source, block_limit, gap_pieces, schedule_pieces

T = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
Q = timedelta(minutes=15)


def blk(capacity, start=T, end=T + Q, unit="KW", phase="ALL"):
    return Block(Decimal(str(capacity)), phase, unit, start, end)


@pytest.mark.parametrize(
    ("capacity", "unit", "minutes", "expected_value", "expected_unit"),
    [
        (11, "KW", 15, "11", "kW"),
        (11000, "W", 15, "11", "kW"),
        (1000, "WH", 15, "4", "kW"),  # 1000 Wh in 15 min = 4000 W
        (1000, "WH", 60, "1", "kW"),
        (5, "KWH", 30, "10", "kW"),  # 5 kWh in 30 min = 10 kW
        (5, "KWH", 60, "5", "kW"),
        (32, "A", 15, "32", "A"),
        (-7, "KW", 15, "7", "kW"),  # direction comes from the kind of forecast, not the sign
    ],
)
def test_block_units_convert_to_average_power(capacity, unit, minutes, expected_value, expected_unit):
    limit = block_limit(blk(capacity, end=T + timedelta(minutes=minutes), unit=unit))
    assert limit.value == Decimal(expected_value)
    assert limit.unit == expected_unit


@pytest.mark.parametrize(("phase", "expected"), [("ALL", "All"), ("ONE", "A"), ("TWO", "B"), ("THREE", "C")])
def test_amps_keep_their_phase(phase, expected):
    limit = block_limit(blk(16, unit="A", phase=phase))
    assert (limit.phase, limit.unit, limit.value) == (expected, "A", Decimal(16))


def test_newer_source_replaces_older_only_where_it_has_blocks():
    old = Source(1, T, [blk(10, T + i * Q, T + (i + 1) * Q) for i in range(4)])
    new = Source(2, T + Q, [blk(5, T + Q, T + 2 * Q)])
    pieces = schedule_pieces(sources=[new, old], fallback_sources=[], start=T, end=T + 4 * Q)
    assert [(p.start, p.end, p.value, p.source_id) for p in pieces] == [
        (T, T + Q, 10, 1),
        (T + Q, T + 2 * Q, 5, 2),
        (T + 2 * Q, T + 4 * Q, 10, 1),  # equal neighbouring blocks merge into one piece
    ]


def test_a_newer_all_phase_block_replaces_every_phase_of_the_older_one():
    old = Source(1, T, [blk(16, unit="A", phase=p) for p in ("ONE", "TWO", "THREE")])
    new = Source(2, T + Q, [blk(20)])
    pieces = schedule_pieces(sources=[old, new], fallback_sources=[], start=T, end=T + Q)
    assert [(p.phase, p.unit, p.value) for p in pieces] == [("All", "kW", 20)]


def test_per_phase_blocks_give_per_phase_limits():
    source = Source(1, T, [blk(v, unit="A", phase=p) for v, p in ((10, "ONE"), (12, "TWO"), (14, "THREE"))])
    pieces = schedule_pieces(sources=[source], fallback_sources=[], start=T, end=T + Q)
    assert {(p.phase, p.value) for p in pieces} == {("A", 10), ("B", 12), ("C", 14)}


def test_offline_keeps_the_block_in_force_until_it_ends_then_fallback():
    online = Source(1, T, [blk(10, T, T + Q), blk(12, T + Q, T + 2 * Q)])
    fallback = Source(2, T, [blk(3, T, T + 4 * Q)])
    pieces = schedule_pieces(
        sources=[online], fallback_sources=[fallback], start=T, end=T + 4 * Q, offline_since=T + Q / 3
    )
    assert [(p.start, p.end, p.value, p.reason) for p in pieces] == [
        (T, T + Q / 3, 10, "forecast"),
        (T + Q / 3, T + Q, 10, "forecast"),
        (T + Q, T + 4 * Q, 3, "fallback"),  # the already received 12 kW block no longer applies
    ]


def test_offline_without_fallback_leaves_a_gap_after_the_block_ends():
    online = Source(1, T, [blk(10, T, T + Q), blk(12, T + Q, T + 2 * Q)])
    pieces = schedule_pieces(sources=[online], fallback_sources=[], start=T, end=T + 4 * Q, offline_since=T)
    assert [(p.start, p.end, p.value) for p in pieces] == [(T, T + Q, 10)]


def test_all_zero_source_is_a_protective_stop_on_import_only():
    stop = Source(1, T, [blk(0)], all_zero=True)
    assert (
        schedule_pieces(sources=[stop], fallback_sources=[], start=T, end=T + Q, stop_on_all_zero=True)[0].reason
        == "protective-stop"
    )
    assert schedule_pieces(sources=[stop], fallback_sources=[], start=T, end=T + Q)[0].reason == "forecast"


def test_gaps_are_filled_with_the_fallback_value():
    pieces = gap_pieces(
        [(T + Q, T + 2 * Q)], start=T, end=T + 3 * Q, value=Decimal(5), reason="default", rule="platform-default"
    )
    assert [(p.start, p.end, p.value, p.reason) for p in pieces] == [
        (T, T + Q, 5, "default"),
        (T + 2 * Q, T + 3 * Q, 5, "default"),
    ]


@pytest.mark.parametrize("seed", range(40))
def test_one_schedule_gives_the_pieces_the_general_layering_gives(seed):
    """A single schedule takes a shorter path when its blocks follow each other; its pieces are
    those of the general layering (here forced by a second schedule without blocks), whatever the
    gaps, repeated values, clipping, or blocks out of order or overlapping."""
    import random

    rng = random.Random(seed)
    blocks, at = [], T
    for _ in range(rng.randint(1, 30)):
        at += Q * rng.choice([0, 0, 0, 1])  # a gap now and then
        length = Q * rng.choice([1, 1, 2, 4])
        if rng.random() < 0.1 and blocks:  # an overlap or a block on another phase at the same time
            start = blocks[-1].start
        else:
            start = at
        blocks.append(blk(rng.choice([5, 5, 11, 22.5]), start, start + length, phase=rng.choice(["ALL", "ALL", "ONE"])))
        at = start + length
    if rng.random() < 0.2:
        rng.shuffle(blocks)
    source = Source(7, T, blocks)
    start, end = T + Q * rng.randint(0, 3), at - Q * rng.randint(0, 3)

    alone = schedule_pieces(sources=[source], fallback_sources=[], start=start, end=end)
    general = schedule_pieces(sources=[source, Source(8, T - Q, [])], fallback_sources=[], start=start, end=end)

    assert alone == general
