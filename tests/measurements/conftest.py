from datetime import UTC, datetime

import pytest

from tests.measurements.factories import ReadingFactory

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def add_reading():
    """``add_reading(asset, ts, i={...}, a={...})`` stores one reading of the asset's stream."""

    def add(asset, ts, i=None, a=None):
        return ReadingFactory(asset=asset, ts=ts, instantaneous=i or {}, accumulating=a or {})

    return add


@pytest.fixture(autouse=True)
def queued_sends(published):
    """Outbox sends queued on commit, recorded instead of reaching a broker."""
    return published
