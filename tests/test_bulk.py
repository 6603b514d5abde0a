"""Rows written many at a time (``oscp_platform.bulk``) read back exactly as ``bulk_create`` would
have stored them, and a value that does not fit its column is refused rather than cut short."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DataError, transaction

from connections.models import Message
from forecasts.models import Envelope
from oscp_platform.bulk import instances_insert, rows_insert
from tests.groups.factories import CapacityGroupFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

AT = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC)


def message(**fields) -> Message:
    values = {"direction": "out", "message_type": "Heartbeat", "request_id": "r-1", "status": "pending"}
    return Message(**{**values, **fields})


def test_instances_come_back_with_their_ids_in_order_and_every_value_as_given():
    group = CapacityGroupFactory()
    body = {"text": "quote ' and \" and \\ and é ✓", "nested": [1, 2.5, None, True], "big": 2**70}
    given = [
        message(group=group, request_id="r-1", body=body, headers={"X-Request-ID": "r-1"}, next_attempt_at=AT),
        message(request_id="r-2", body=None, http_status=204, duration_ms=7, error="line\nbreak"),
        message(request_id="r-3", body={"empty": {}}, deadline=AT + timedelta(days=1)),
    ]

    created = instances_insert(given)

    assert [m.pk for m in created] == sorted(m.pk for m in created)
    stored = {m.request_id: m for m in Message.objects.filter(pk__in=[m.pk for m in created])}
    assert [stored[m.request_id].pk for m in given] == [m.pk for m in created]
    first, second, third = (stored[f"r-{n}"] for n in (1, 2, 3))
    assert (first.group_id, first.body, first.headers, first.next_attempt_at) == (
        group.id,
        body,
        {"X-Request-ID": "r-1"},
        AT,
    )
    assert second.body is None  # SQL NULL, not a JSON null
    assert Message.objects.filter(pk=second.pk, body__isnull=True).exists()
    assert (second.http_status, second.duration_ms, second.error, second.group_id) == (204, 7, "line\nbreak", None)
    assert (third.body, third.deadline, third.headers) == ({"empty": {}}, AT + timedelta(days=1), {})
    assert first.created is not None and first.created == created[0].created


def test_a_value_longer_than_its_column_is_refused_not_cut_short():
    with pytest.raises(DataError, match="too long"), transaction.atomic():
        instances_insert([message(request_id="x" * 129)])
    assert not Message.objects.exists()


def test_rows_keep_their_decimals_and_times_exactly():
    group = CapacityGroupFactory()
    row = {
        "group_id": group.id,
        "quantity": "import",
        "phase": "All",
        "unit": "kW",
        "value": Decimal("123456789012.123456"),
        "start": AT,
        "end": AT + timedelta(minutes=15),
        "reason": "forecast",
        "forecast_id": None,
        "rule": "",
        "microgrid_id": "",
        "node_id": 2**40,
    }

    assert rows_insert(Envelope, [row, {**row, "start": AT - timedelta(minutes=15), "end": AT}]) == 2

    stored = Envelope.objects.filter(group=group).order_by("start").values("value", "start", "end", "node_id")
    assert list(stored) == [
        {"value": row["value"], "start": AT - timedelta(minutes=15), "end": AT, "node_id": 2**40},
        {"value": row["value"], "start": AT, "end": AT + timedelta(minutes=15), "node_id": 2**40},
    ]
