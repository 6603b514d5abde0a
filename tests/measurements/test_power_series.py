"""The group's measured power per period (the operating view's chart)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groups.choices import Audience, MeasurementPeriod
from measurements import power
from measurements.models import Reading
from measurements.power import power_spec
from measurements.reports import align_down
from measurements.selectors import group_power_series
from tests.groups.factories import AssetFactory, CapacityGroupFactory
from tests.measurements import oracle
from tests.measurements.factories import ReadingFactory
from tests.support.pages import chart_data

from .conftest import T0

M = timedelta(minutes=1)
Q = 15 * M


def _energy_only(group, **energy):
    return AssetFactory(
        group=group,
        instantaneous=None,
        energy={"propertyNames": ["wattHours"], "unit": "Wh", "multiplier": 1, "direction": "Import", **energy},
    )


def _power_only(group, unit="W", **fields):
    return AssetFactory(
        group=group,
        energy=None,
        instantaneous={"propertyNames": ["watts"], "unit": unit, "multiplier": 1, "statisticType": "Maximum"},
        **fields,
    )


@pytest.mark.django_db
def test_average_power_per_period_from_counters_and_instantaneous_values(add_reading):
    group = CapacityGroupFactory()  # reports to its provider every 15 minutes
    counter = _energy_only(group)
    meter = _power_only(group)
    for minute in range(0, 31):
        add_reading(counter, T0 + minute * M, a={"wattHours": 5000 + 10 * minute})  # 10 Wh a minute: 0.6 kW
    for minute in range(0, 30, 5):
        add_reading(meter, T0 + minute * M, i={"watts": 7000 if minute < 15 else 1000})
    add_reading(meter, T0 + 2 * M, i={"watts": 10000})

    series = group_power_series(group=group, start=T0, end=T0 + 30 * M)

    assert [t for t, _ in series] == [T0, T0 + Q]
    assert series[0][1] == pytest.approx(0.6 + (7 + 7 + 7 + 10) / 4)  # mean of the power readings
    assert series[1][1] == pytest.approx(0.6 + 1.0)


@pytest.mark.django_db
def test_energy_between_readings_is_spread_over_the_periods_in_proportion_to_time(add_reading):
    group = CapacityGroupFactory(capacity_provider_measurement_period=MeasurementPeriod.FIFTEEN_MINUTE)
    counter = _energy_only(group, unit="kWh", multiplier=0.001)
    add_reading(counter, T0 + 10 * M, a={"wattHours": 1000})
    add_reading(counter, T0 + 20 * M, a={"wattHours": 1600})  # 600 Wh in 10 min (2 × tolerance), across 10:15
    add_reading(counter, T0 + 25 * M, a={"wattHours": 1900})  # 300 Wh in 5 min

    series = dict(group_power_series(group=group, start=T0, end=T0 + 30 * M))

    # 10:00-10:15: 300 Wh over the 5 minutes with data; 10:15-10:30: 300 + 300 Wh over 10 minutes.
    assert series == {T0: pytest.approx(3.6), T0 + Q: pytest.approx(3.6)}


@pytest.mark.django_db
def test_export_counts_down_and_resets_gaps_and_amperes_count_for_nothing(add_reading, settings):
    settings.MEASUREMENTS_EDGE_TOLERANCE_SECONDS = 300
    group = CapacityGroupFactory()
    imported = _energy_only(group)
    exported = _energy_only(group, direction="Export")
    amps = AssetFactory(
        group=group, energy=None, instantaneous={"propertyNames": ["amps"], "unit": "A", "statisticType": "Maximum"}
    )
    disabled = _power_only(group, enabled=False)
    for minute in range(0, 16):
        add_reading(imported, T0 + minute * M, a={"wattHours": 100 * minute})  # 6 kW
        add_reading(exported, T0 + minute * M, a={"wattHours": 20 * minute})  # 1.2 kW out
        add_reading(amps, T0 + minute * M, i={"amps": 32})
        add_reading(disabled, T0 + minute * M, i={"watts": 99000})
    add_reading(imported, T0 + 16 * M, a={"wattHours": 5})  # a reset: that minute is left out
    add_reading(imported, T0 + 17 * M, a={"wattHours": 105})
    add_reading(imported, T0 + 29 * M, a={"wattHours": 9999})  # 12 minutes later: too far to interpolate

    series = dict(group_power_series(group=group, start=T0, end=T0 + 30 * M))

    assert power_spec(amps) is None
    assert series[T0] == pytest.approx(6.0 - 1.2)
    assert series[T0 + Q] == pytest.approx(6.0)  # 15-16 (1500 → 5) dropped; 16-17 is 100 Wh a minute


@pytest.mark.django_db
def test_a_meter_listed_for_both_audiences_counts_once(add_reading, other_user):
    group = CapacityGroupFactory(capacity_optimizer_measurement_period=MeasurementPeriod.FIFTEEN_MINUTE)
    for_provider = _power_only(group, source_id="site/meter")
    _power_only(group, source_id="site/meter", audience=Audience.CAPACITY_OPTIMIZER)
    add_reading(for_provider, T0, i={"watts": 4000})
    foreign = CapacityGroupFactory(owner=other_user, capacity_provider__owner=other_user)
    add_reading(_power_only(foreign, source_id="site/meter"), T0 + M, i={"watts": 100000})  # not ours

    assert group_power_series(group=group, start=T0, end=T0 + Q) == [(T0, pytest.approx(4.0))]

    optimizer_only = CapacityGroupFactory()
    meter = _power_only(optimizer_only, audience=Audience.CAPACITY_OPTIMIZER)
    add_reading(meter, T0, i={"watts": 2000})
    assert group_power_series(group=optimizer_only, start=T0, end=T0 + Q) == [(T0, pytest.approx(2.0))]


@pytest.mark.django_db
def test_a_day_of_minutes_is_drawn_in_five_minute_periods(add_reading):
    group = CapacityGroupFactory(capacity_provider_measurement_period=MeasurementPeriod.MINUTE)
    meter = _power_only(group)
    Reading.objects.bulk_create(
        ReadingFactory.build(asset=meter, ts=T0 + minute * M, instantaneous={"watts": 1000})
        for minute in range(0, 24 * 60, 2)
    )

    series = group_power_series(group=group, start=T0, end=T0 + timedelta(hours=24))

    assert [t for t, _ in series] == [T0 + k * 5 * M for k in range(24 * 12)]  # not 1440 points
    assert group_power_series(group=group, start=T0, end=T0 + 30 * M)[:2] == [(T0, 1.0), (T0 + 2 * M, 1.0)]


@pytest.mark.django_db
def test_sql_matches_the_python_oracle(add_reading):
    group = CapacityGroupFactory()
    counter, meter = _energy_only(group, direction="Export"), _power_only(group, unit="kW")
    for second in range(0, 3600, 47):
        add_reading(counter, T0 + second * timedelta(seconds=1), a={"wattHours": 3 * second + (second % 5)})
        add_reading(meter, T0 + second * timedelta(seconds=1), i={"watts": (second % 13) / 10})
    specs = [power_spec(counter), power_spec(meter)]
    max_gap = timedelta(minutes=10)

    in_sql = power._series(specs, T0, T0 + timedelta(hours=1), Q, max_gap)
    in_python = oracle.series_python(specs, T0, T0 + timedelta(hours=1), Q, max_gap)

    assert [t for t, _ in in_sql] == [t for t, _ in in_python] == [T0 + k * Q for k in range(4)]
    assert [kw for _, kw in in_sql] == pytest.approx([kw for _, kw in in_python])


@pytest.mark.django_db
def test_operating_view_draws_the_measured_power(admin_client, add_reading):
    group = CapacityGroupFactory()
    meter = AssetFactory(
        group=group,
        energy=None,
        instantaneous={"propertyNames": ["watts"], "unit": "W", "multiplier": 1, "statisticType": "Average"},
    )
    now = timezone.now()
    for minutes, watts in ((150, 2000), (60, 5000), (45, 3000), (30, -4000)):  # the last: exporting
        add_reading(meter, align_down(now - minutes * M, Q), i={"watts": watts})

    page = admin_client.get(f"/admin/forecasts/groupoperation/{group.id}/operating/").content.decode()

    # The chart library draws what the page hands it: one point per period with data, none for
    # the 1.5 hours without (the chart leaves the gap), export negative.
    measured = chart_data(page)["measured"]
    assert [point["value"] for point in measured] == [2.0, 5.0, 3.0, -4.0]
    assert 'src="/static/forecasts/vendor/chart.umd.min.js"' in page
