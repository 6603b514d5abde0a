"""Upgrading an installation whose forecasts kept one row per block: migration 0011 moves the
blocks into their forecasts, exactly, and the envelope logic reads them as before."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from forecasts.models import Forecast
from forecasts.selectors import forecast_sources
from tests.groups.factories import CapacityGroupFactory

BEFORE = [("forecasts", "0010_sources_without_constraint")]
AFTER = [("forecasts", "0011_blocks_in_forecast")]
T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_blocks_move_into_their_forecast():
    group = CapacityGroupFactory()  # tables of other apps are the same either side
    apps = _migrate(BEFORE)
    try:
        OldForecast = apps.get_model("forecasts", "Forecast")
        Block = apps.get_model("forecasts", "ForecastBlock")
        forecast = OldForecast.objects.create(group_id=group.id, type="CONSUMPTION", request_id="r1", received_at=T0)
        empty = OldForecast.objects.create(group_id=group.id, type="CONSUMPTION", request_id="r0", received_at=T0)
        for n, (phase, capacity) in enumerate([("ALL", "12.345678"), ("ONE", "16"), ("ALL", "0")]):
            start = T0 + timedelta(minutes=15 * (n // 2 * 2))
            Block.objects.create(
                forecast=forecast,
                capacity=Decimal(capacity),
                phase=phase,
                unit="KW" if phase == "ALL" else "A",
                start_time=start,
                end_time=start + timedelta(minutes=30),
            )
    finally:
        _migrate(AFTER)

    moved = Forecast.objects.get(request_id="r1")
    assert [(b["start_time"], b["phase"], b["unit"], b["capacity"]) for b in moved.block_list()] == [
        (T0, "ALL", "KW", Decimal("12.345678")),
        (T0, "ONE", "A", Decimal("16")),
        (T0 + timedelta(minutes=30), "ALL", "KW", Decimal("0")),
    ]
    assert (moved.starts_at, moved.ends_at) == (T0, T0 + timedelta(hours=1))
    assert Forecast.objects.get(request_id="r0").block_list() == []
    assert Forecast.objects.get(request_id="r0").ends_at is None

    sources = forecast_sources(
        group=moved.group, types=["CONSUMPTION"], ranges=[(T0 + timedelta(minutes=40), T0 + timedelta(hours=2))]
    )
    [source] = sources["CONSUMPTION"]
    assert source.id == moved.id and [b.capacity for b in source.blocks] == [Decimal("0")]
    assert empty.id != moved.id
