"""Forecasts received become envelope rows: all five kinds, overlap replacement, per phase."""

from datetime import timedelta
from decimal import Decimal

import pytest

from forecasts.models import Envelope
from forecasts.selectors import envelope_in_force, envelope_pieces
from tests.forecasts.conftest import T0, blocks

pytestmark = pytest.mark.django_db
Q = timedelta(minutes=15)


def rows(group, quantity):
    return [
        (r.start, r.end, r.phase, r.unit, r.value, r.reason)
        for r in Envelope.objects.filter(group=group, quantity=quantity).order_by("start", "phase")
    ]


def test_consumption_sets_import_limits_and_generation_export_limits(group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=[10, 10, 12, 12]))
    receive(group, "GENERATION", blocks(capacity=4, unit="W", count=1))
    assert rows(group, "import") == [
        (T0, T0 + 2 * Q, "All", "kW", Decimal(10), "forecast"),
        (T0 + 2 * Q, T0 + 4 * Q, "All", "kW", Decimal(12), "forecast"),
    ]
    assert rows(group, "export") == [(T0, T0 + Q, "All", "kW", Decimal("0.004"), "forecast")]


def test_fallback_forecasts_are_kept_aside_while_the_provider_is_online(group, receive):
    receive(group, "FALLBACK_CONSUMPTION", blocks(capacity=3))
    receive(group, "FALLBACK_GENERATION", blocks(capacity=2))
    assert not Envelope.objects.filter(group=group).exists()
    assert envelope_in_force(group=group, at=T0)["importLimits"][0]["reason"] == "default"


def test_optimum_is_exposed_but_is_not_a_limit(group, receive):
    receive(group, "OPTIMUM", blocks(capacity=7))
    envelope = envelope_in_force(group=group, at=T0 + Q)
    assert [item["value"] for item in envelope["optimum"]] == [7.0]
    assert envelope["importLimits"][0]["reason"] == "default"


def test_newer_forecast_replaces_older_where_they_overlap(group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=10, count=8))
    newer = receive(group, "CONSUMPTION", blocks(start=T0 + 2 * Q, capacity=6, count=2))
    assert rows(group, "import") == [
        (T0, T0 + 2 * Q, "All", "kW", Decimal(10), "forecast"),
        (T0 + 2 * Q, T0 + 4 * Q, "All", "kW", Decimal(6), "forecast"),
        (T0 + 4 * Q, T0 + 8 * Q, "All", "kW", Decimal(10), "forecast"),
    ]
    assert envelope_in_force(group=group, at=T0 + 3 * Q)["importLimits"][0]["forecastId"] == newer.id


def test_a_newer_forecast_with_a_hole_lets_the_older_one_show_through(group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=10, count=4))
    receive(group, "CONSUMPTION", blocks(capacity=5, count=1) + blocks(start=T0 + 3 * Q, capacity=5, count=1))
    assert [r[4] for r in rows(group, "import")] == [5, 10, 5]


def test_amps_per_phase_are_kept_per_phase(group, receive):
    per_phase = [b for p in ("ONE", "TWO", "THREE") for b in blocks(capacity=16, unit="A", phase=p, count=1)]
    receive(group, "CONSUMPTION", per_phase)
    limits = envelope_in_force(group=group, at=T0)["importLimits"]
    assert [(i["phase"], i["unit"], i["value"]) for i in limits] == [
        ("A", "A", 16.0),
        ("B", "A", 16.0),
        ("C", "A", 16.0),
    ]


def test_energy_blocks_become_average_power(group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=2500, unit="WH", count=1))  # 2.5 kWh per 15 min
    receive(group, "GENERATION", blocks(capacity=3, unit="KWH", count=1, minutes=60))
    envelope = envelope_in_force(group=group, at=T0)
    assert envelope["importLimits"][0]["value"] == 10.0
    assert envelope["exportLimits"][0]["value"] == 3.0


def test_schedule_range_fills_gaps_with_the_group_fallback(group, receive):
    group.fallback_import_kw = Decimal("4.5")
    group.save()
    receive(group, "CONSUMPTION", blocks(start=T0 + Q, capacity=10, count=1))
    imports = envelope_pieces(group=group, start=T0, end=T0 + 3 * Q)["import"]
    assert [(p.start, p.value, p.reason, p.rule) for p in imports] == [
        (T0, Decimal("4.5"), "fallback", "group-fallback-import"),
        (T0 + Q, Decimal(10), "forecast", ""),
        (T0 + 2 * Q, Decimal("4.5"), "fallback", "group-fallback-import"),
    ]


def test_adjust_messages_do_not_change_limits(group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=99), message_type="adjust_group_capacity_forecast")
    assert not Envelope.objects.filter(group=group).exists()


def test_a_forecast_from_someone_other_than_the_provider_sets_no_limits(group, receive):
    from tests.connections.factories import CapacityProviderFactory

    receive(group, "CONSUMPTION", blocks(capacity=99), sender=CapacityProviderFactory(owner=group.owner))
    assert not Envelope.objects.filter(group=group).exists()
