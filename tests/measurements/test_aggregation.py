"""Aggregation of readings into per-asset values for one window: one SQL text that every test
run exercises, on SQLite and on PostgreSQL alike."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groups.choices import MeasurementPeriod
from measurements import aggregation
from measurements.aggregation import AssetSpec, window_measure, windows_measure
from measurements.reports import period_windows_closed, window_of
from tests.groups.factories import AssetFactory
from tests.measurements import oracle
from tests.measurements.factories import ReadingFactory

from .conftest import T0

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
TOL = timedelta(minutes=5)


def inst_asset(statistic, **extra):
    config = {"propertyNames": ["watts"], "unit": "W", "statisticType": statistic, **extra}
    return AssetFactory(instantaneous=config, energy=None)


def energy_asset(**extra):
    config = {"propertyNames": ["wattHours"], "unit": "Wh", "statisticType": "Difference", **extra}
    return AssetFactory(instantaneous=None, energy=config)


def measure(asset, start=T0, end=T0 + 15 * M):
    return window_measure(assets=[asset], start=start, end=end, tolerance=TOL).get(asset.id)


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [("Average", 250.0), ("Minimum", 100.0), ("Maximum", 400.0), ("Count", 4.0), ("Start", 300.0), ("End", 200.0)],
)
def test_each_instantaneous_statistic_over_the_window(add_reading, statistic, expected):
    asset = inst_asset(statistic)
    add_reading(asset, T0 - M, i={"watts": 9999})  # before the window
    for minute, watts in [(0, 300), (4, 100), (9, 400), (14, 200)]:
        add_reading(asset, T0 + minute * M, i={"watts": watts})
    add_reading(asset, T0 + 15 * M, i={"watts": 9999})  # the end is exclusive

    result = measure(asset)

    assert result.instantaneous == pytest.approx(expected)


def test_instantaneous_sums_property_names_and_applies_multiplier(add_reading):
    asset = AssetFactory(
        instantaneous={
            "propertyNames": ["watts_a", "watts_b"],
            "unit": "kW",
            "statisticType": "Maximum",
            "multiplier": 0.001,
        },
        energy=None,
    )
    add_reading(asset, T0 + M, i={"watts_a": 3000, "watts_b": 4000})
    add_reading(asset, T0 + 2 * M, i={"watts_a": 1000})  # a missing property counts as absent
    add_reading(asset, T0 + 3 * M, a={"wattHours": 5})  # no instantaneous value: ignored

    result = measure(asset)

    assert result.instantaneous == pytest.approx(7.0)


def test_count_counts_readings_with_a_value_and_ignores_multiplier(add_reading):
    asset = inst_asset("Count", multiplier=1000)
    for minute in range(3):
        add_reading(asset, T0 + minute * M, i={"watts": 1})
    add_reading(asset, T0 + 3 * M, i={"volts": 230})

    assert measure(asset).instantaneous == 3


def test_readings_of_another_owner_or_stream_are_not_counted(add_reading, other_user):
    asset = inst_asset("Maximum")
    add_reading(asset, T0 + M, i={"watts": 10})
    ReadingFactory(asset=asset, owner=other_user, ts=T0 + 2 * M, instantaneous={"watts": 500})
    ReadingFactory(asset=asset, source_id="other", ts=T0 + 2 * M, instantaneous={"watts": 600})

    assert measure(asset).instantaneous == 10


def test_no_readings_means_no_measure(add_reading):
    asset = inst_asset("Average")
    add_reading(asset, T0 - 30 * M, i={"watts": 10})

    assert measure(asset) is None


def test_energy_is_difference_of_readings_on_the_edges(add_reading):
    asset = energy_asset()
    for minute in range(-2, 18):
        add_reading(asset, T0 + minute * M, a={"wattHours": 1000 + 10 * minute})

    result = measure(asset)

    assert result.energy == pytest.approx(150.0)
    assert result.energy_since == T0


def test_energy_edges_are_interpolated_between_nearest_readings(add_reading):
    asset = energy_asset()
    add_reading(asset, T0 - 2 * M, a={"wattHours": 1000})
    add_reading(asset, T0 + 2 * M, a={"wattHours": 1400})  # start edge: 1000 + 400 * 2/4 = 1200
    add_reading(asset, T0 + 12 * M, a={"wattHours": 2000})
    add_reading(asset, T0 + 16 * M, a={"wattHours": 2400})  # end edge: 2000 + 400 * 3/4 = 2300

    assert measure(asset).energy == pytest.approx(1100.0)


def test_energy_edge_uses_one_side_when_the_other_is_beyond_tolerance(add_reading):
    asset = energy_asset()
    add_reading(asset, T0 - 20 * M, a={"wattHours": 0})  # beyond tolerance: not used
    add_reading(asset, T0 + 1 * M, a={"wattHours": 1000})
    add_reading(asset, T0 + 14 * M, a={"wattHours": 1500})

    result = measure(asset)

    assert result.energy == pytest.approx(500.0)
    assert result.energy_since == T0


def test_energy_without_reading_near_start_counts_from_first_reading(add_reading):
    asset = energy_asset()
    add_reading(asset, T0 + 8 * M, a={"wattHours": 1000})
    add_reading(asset, T0 + 15 * M, a={"wattHours": 1300})

    result = measure(asset)

    assert result.energy == pytest.approx(300.0)
    assert result.energy_since == T0 + 8 * M


def test_counter_reset_restarts_the_difference(add_reading):
    asset = energy_asset()
    for minute, wh in [(0, 5000), (5, 5500), (7, 20), (10, 220), (15, 520)]:
        add_reading(asset, T0 + minute * M, a={"wattHours": wh})

    result = measure(asset)

    assert result.energy == pytest.approx(500.0)
    assert result.energy_since == T0 + 7 * M


def test_reset_just_after_the_end_is_not_interpolated_across(add_reading):
    asset = energy_asset()
    add_reading(asset, T0, a={"wattHours": 100})
    add_reading(asset, T0 + 14 * M, a={"wattHours": 800})
    add_reading(asset, T0 + 16 * M, a={"wattHours": 3})

    assert measure(asset).energy == pytest.approx(700.0)


def test_energy_multiplier(add_reading):
    asset = energy_asset(multiplier=0.001, unit="kWh")
    add_reading(asset, T0, a={"wattHours": 1000})
    add_reading(asset, T0 + 15 * M, a={"wattHours": 3500})

    assert measure(asset).energy == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("period", "now", "expected"),
    [
        (MeasurementPeriod.MINUTE, "10:07:30", ("10:06", "10:07")),
        (MeasurementPeriod.FIVE_MINUTE, "10:07:30", ("10:00", "10:05")),
        (MeasurementPeriod.TEN_MINUTE, "10:27:30", ("10:10", "10:20")),
        (MeasurementPeriod.FIFTEEN_MINUTE, "10:07:30", ("09:45", "10:00")),
        (MeasurementPeriod.TWENTY_MINUTE, "10:59:59", ("10:20", "10:40")),
        (MeasurementPeriod.THIRTY_MINUTE, "10:30:00", ("10:00", "10:30")),
        (MeasurementPeriod.HOUR, "10:59:00", ("09:00", "10:00")),
    ],
)
def test_each_period_is_aligned_to_the_hour(period, now, expected):
    def at(text):
        hours, minutes, *seconds = (int(x) for x in text.split(":"))
        return T0.replace(hour=hours, minute=minutes, second=seconds[0] if seconds else 0)

    start, end = period_windows_closed(period=period, after=at("08:00"), now=at(now))[-1]

    assert (start, end) == (at(expected[0]), at(expected[1]))
    assert window_of(period=period, start=start) == (start, end)


def test_one_query_for_many_assets_and_windows_matches_the_python_oracle(add_reading):
    rng = random.Random(7)
    assets = []
    for n in range(12):
        asset = AssetFactory(
            instantaneous={
                "propertyNames": ["watts"],
                "unit": "W",
                "statisticType": ["Average", "Minimum", "Maximum", "Count", "Start", "End"][n % 6],
            },
        )
        counter = rng.randint(0, 10_000)
        for minute in range(-6, 22):
            if rng.random() < 0.2:
                continue
            counter = rng.randint(0, 50) if rng.random() < 0.05 else counter + rng.randint(0, 200)
            add_reading(
                asset,
                T0 + minute * M + timedelta(seconds=rng.randint(0, 59)),
                i={"watts": rng.randint(0, 7000)},
                a={"wattHours": counter},
            )
        assets.append(asset)
    specs = [AssetSpec.of(a) for a in assets]
    start, end = T0, T0 + 15 * M

    windows = [(T0, T0 + 15 * M), (T0 + 5 * M, T0 + 10 * M), (T0 + 15 * M, T0 + 16 * M)]

    with CaptureQueriesContext(connection) as queries:
        from_sql = windows_measure(items=[(s, a, b) for s in specs for a, b in windows], tolerance=TOL)

    assert len(queries) == 1
    assert len(from_sql) == 36
    for start, end in windows:
        facts = oracle.facts_python(specs, start, end, TOL)
        for spec in specs:
            expected = aggregation._measure(spec, facts.get(spec.asset_id), start, end, TOL)
            found = from_sql[(spec.asset_id, start)]
            assert found.instantaneous == pytest.approx(expected.instantaneous)
            assert found.energy == pytest.approx(expected.energy)
            assert found.energy_since == expected.energy_since
