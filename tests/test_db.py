"""Times read from PostgreSQL: psycopg's compiled loader (``oscp_platform.db``) gives exactly what
Django's own loader gave, aware and in UTC."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format

from connections.models import Message
from forecasts.models import GroupModeChange
from oscp_platform.db import UtcTimestampLoader
from tests.forecasts.factories import ForecastFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TIMES = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
SQL = "SELECT t, t + interval '1 microsecond' FROM unnest(%s::timestamptz[]) AS t"


def read(times):
    with connection.cursor() as cursor:
        cursor.execute(SQL, [list(times)])
        return cursor.fetchall()


def test_connections_read_times_with_psycopgs_compiled_loader():
    connection.ensure_connection()
    oid = psycopg.adapters.types["timestamptz"].oid
    assert connection.connection.adapters.get_loader(oid, Format.TEXT) is UtcTimestampLoader
    with connection.cursor() as cursor:  # Django checks the loader's time zone for each cursor
        assert cursor.cursor.adapters.get_loader(oid, Format.TEXT) is UtcTimestampLoader


def test_times_read_are_those_djangos_loader_reads():
    ours = read(TIMES[1:-1])
    with connection.cursor() as cursor:
        register_tzloader(connection.timezone, cursor.cursor)  # Django's own, on this cursor only
        cursor.execute(SQL, [TIMES[1:-1]])
        djangos = cursor.fetchall()
    assert ours == djangos
    assert [row[0] for row in ours] == TIMES[1:-1]
    assert all(value.tzinfo is UTC for row in ours for value in row)
    assert ours[0][1] == datetime(1970, 1, 1, tzinfo=UTC)


def test_the_extremes_of_the_range_read_back_exactly():
    with connection.cursor() as cursor:
        cursor.execute("SELECT t FROM unnest(%s::timestamptz[]) AS t", [[TIMES[0], TIMES[-1]]])
        assert [row[0] for row in cursor.fetchall()] == [TIMES[0], TIMES[-1]]


def test_model_times_round_trip_through_the_orm():
    group = CapacityGroupFactory()
    at = datetime(2026, 12, 3, 17, 45, 0, 1, tzinfo=UTC)
    change = GroupModeChange.objects.create(group=group, from_mode="", to_mode="forecast", reason="", at=at)
    loaded = GroupModeChange.objects.get(pk=change.pk)
    assert loaded.at == at and loaded.at.tzinfo is UTC
    assert GroupModeChange.objects.filter(at__gt=at - timedelta(microseconds=1), at__lt=at + timedelta(1)).count() == 1


def test_large_message_bodies_and_forecast_blocks_are_stored_compressed_with_lz4():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL was built without LZ4")
    group = CapacityGroupFactory()
    blocks = [{"start": f"2026-12-03T{h:02d}:00:00Z", "capacity": h * 1.5, "unit": "KW"} for h in range(24)] * 8
    message = Message.objects.create(
        direction="in", message_type="UpdateGroupCapacityForecast", request_id="r", status="accepted", body=blocks
    )
    forecast = ForecastFactory(group=group, blocks=blocks)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_compression(body) FROM connections_message WHERE id = %s", [message.id])
        assert cursor.fetchone()[0] == "lz4"
        cursor.execute("SELECT pg_column_compression(blocks) FROM forecasts_forecast WHERE id = %s", [forecast.id])
        assert cursor.fetchone()[0] == "lz4"
    message.refresh_from_db()
    assert message.body == blocks
