"""A combined asset's instantaneous value is the statistic of the summed site power."""

from dataclasses import astuple
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connections.models import Message
from measurements import power, services
from measurements.aggregation import AssetSpec
from measurements.power import site_statistic
from tests.groups.factories import AssetFactory, CapacityGroupFactory
from tests.measurements import oracle
from tests.measurements.factories import ReportCursorFactory

from .conftest import T0

S = timedelta(seconds=1)
END = T0 + timedelta(minutes=1)


def _asset(group, statistic="Maximum", unit="W", **fields):
    return AssetFactory(
        group=group,
        instantaneous={"propertyNames": ["watts"], "unit": unit, "multiplier": 1, "statisticType": statistic},
        **fields,
    )


@pytest.fixture
def staggered(add_reading):
    """Two chargers reporting at different instants; their peaks do not coincide.

    a: 1000 W before the window, 2000 at +10 s, 3000 at +40 s
    b: 500 W before the window, 4000 at +5 s, 1500 at +30 s, 1000 at +55 s
    site: +5 s 5000, +10 s 6000, +30 s 3500, +40 s 4500, +55 s 4000
    """
    group = CapacityGroupFactory(
        combined_asset_id="SITE",
        capacity_provider__measurement_message="asset",
        capacity_provider_measurement_period="Minute",
    )
    a, b = _asset(group), _asset(group)
    for asset, seconds, watts in [
        (a, -20, 1000),
        (a, 10, 2000),
        (a, 40, 3000),
        (a, 70, 9000),  # after the window: not counted
        (b, -5, 500),
        (b, 5, 4000),
        (b, 30, 1500),
        (b, 55, 1000),
    ]:
        add_reading(asset, T0 + seconds * S, i={"watts": watts})
    return group, a, b


def _site(assets, statistic):
    return site_statistic(assets=[(a, 1.0) for a in assets], statistic=statistic, start=T0, end=END)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("statistic", "expected"),
    [("Maximum", 6000.0), ("Minimum", 3500.0), ("Start", 5000.0), ("End", 4000.0), ("Count", 5.0)],
)
def test_statistic_of_the_summed_power_not_the_sum_of_statistics(staggered, statistic, expected):
    _, a, b = staggered
    assert _site([a, b], statistic) == expected


@pytest.mark.django_db
def test_instants_before_every_asset_has_a_value_are_left_out(add_reading):
    group = CapacityGroupFactory()
    early, late = _asset(group), _asset(group)
    add_reading(early, T0 + 1 * S, i={"watts": 100})  # late has no value yet: no site power here
    add_reading(early, T0 + 2 * S, i={"watts": 50})
    add_reading(late, T0 + 3 * S, i={"watts": 1000})
    add_reading(early, T0 + 4 * S, i={"watts": 200})

    assert _site([early, late], "Minimum") == 1050.0  # not 100 or 50
    assert _site([early, late], "Count") == 2.0
    assert _site([early, late], "Start") == 1050.0


@pytest.mark.django_db
def test_no_readings_in_the_window_is_no_value(add_reading):
    group = CapacityGroupFactory()
    asset = _asset(group)
    add_reading(asset, T0 - 10 * S, i={"watts": 100})
    assert _site([asset], "Maximum") is None


@pytest.mark.django_db
def test_combined_report_carries_the_site_maximum_in_the_assets_units(staggered):
    group, a, b = staggered
    a.instantaneous = {"propertyNames": ["watts"], "unit": "kW", "multiplier": 0.001, "statisticType": "Maximum"}
    a.save()
    cursor = ReportCursorFactory(group=group, period="Minute", last_period_end=T0, next_due_at=END)
    [message_id] = services.report_cursor_advance(cursor_id=cursor.id, now=END + timedelta(seconds=30))
    message = Message.objects.get(id=message_id)

    [entry] = message.body["measurements"]
    assert entry["asset_id"] == "SITE"
    assert entry["instantaneous_measurement"]["unit"] == "W"  # mixed W and kW
    assert entry["instantaneous_measurement"]["value"] == 6000.0  # not 3000 + 4000


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("statistics", "expected"),
    [
        (("Average", "Average"), (2000 + 3000) / 2 + (4000 + 1500 + 1000) / 3),  # sum of the averages
        (("Maximum", "End"), 3000.0 + 1000.0),  # mixed: each asset's own statistic, summed
    ],
)
def test_average_and_mixed_statistics_add_up_per_asset(staggered, statistics, expected):
    group, a, b = staggered
    for asset, statistic in zip((a, b), statistics, strict=True):
        asset.instantaneous["statisticType"] = statistic
        asset.save()
    cursor = ReportCursorFactory(group=group, period="Minute", last_period_end=T0, next_due_at=END)
    [message_id] = services.report_cursor_advance(cursor_id=cursor.id, now=END + timedelta(seconds=30))
    message = Message.objects.get(id=message_id)
    [entry] = message.body["measurements"]
    assert entry["instantaneous_measurement"]["value"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.django_db
def test_sql_matches_the_python_oracle_for_several_sites_in_one_query(staggered, add_reading):
    _, a, b = staggered
    c = _asset(CapacityGroupFactory(), source_id="meter/c")
    c.instantaneous["propertyNames"] = ["watts", "watts_b"]
    for seconds, watts in [(-100, 10), (15, 20), (50, 70)]:
        add_reading(c, T0 + seconds * S, i={"watts": watts, "watts_b": 1})
    sites = [[(AssetSpec.of(a), 1.0), (AssetSpec.of(b), 0.001)], [(AssetSpec.of(c), 2.0)], [(AssetSpec.of(b), 1.0)]]
    tolerance = timedelta(minutes=5)

    with CaptureQueriesContext(connection) as queries:
        in_sql = power.sites_summary(sites=[(s, T0, END) for s in sites], tolerance=tolerance)

    assert len(queries) == 1
    for index, scaled in enumerate(sites):
        expected = oracle.site_python(scaled, T0 - tolerance, T0, END)
        assert astuple(in_sql[index]) == pytest.approx(astuple(expected))
    assert in_sql[0].count == 5  # the same five instants
