import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from forecasts.services import forecast_receive
from tests.groups.factories import CapacityGroupFactory

T0 = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
_clock = itertools.count()


def blocks(start=T0, count=4, capacity=10, unit="KW", phase="ALL", minutes=15):
    """``count`` consecutive blocks from ``start``; ``capacity`` may be a list (one per block)."""
    values = capacity if isinstance(capacity, list) else [capacity] * count
    return [
        {
            "capacity": Decimal(str(value)),
            "phase": phase,
            "unit": unit,
            "start_time": start + timedelta(minutes=minutes * i),
            "end_time": start + timedelta(minutes=minutes * (i + 1)),
        }
        for i, value in enumerate(values)
    ]


@pytest.fixture
def group(db, user):
    return CapacityGroupFactory(owner=user, capacity_provider__owner=user, microgrid_id="mg-7", node_id=77)


@pytest.fixture
def receive():
    """Receive a forecast from the group's provider; each call is received after the last."""

    def _receive(group, forecast_type="CONSUMPTION", block_list=None, sender="provider", **kwargs):
        if sender == "provider":
            sender = group.capacity_provider
        kwargs.setdefault("received_at", T0 - timedelta(hours=1) + timedelta(seconds=next(_clock)))
        return forecast_receive(
            group=group,
            sender=sender,
            forecast_type=forecast_type,
            blocks=block_list if block_list is not None else blocks(),
            request_id=kwargs.pop("request_id", str(uuid.uuid4())),
            **kwargs,
        )

    return _receive


@pytest.fixture
def at_time(monkeypatch):
    """Freeze ``timezone.now()`` as the forecasts app sees it."""

    def _set(when):
        monkeypatch.setattr("django.utils.timezone.now", lambda: when)

    return _set
