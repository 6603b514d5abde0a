"""Retention: forecasts and envelope rows past ``FORECAST_RETENTION_DAYS`` are deleted, and
nothing that still applies is."""

from datetime import timedelta

import pytest

from forecasts.models import ComplianceError, Envelope, Forecast
from forecasts.selectors import envelope_in_force
from forecasts.services import forecasts_prune
from forecasts.tasks import forecasts_prune as forecasts_prune_task

from .conftest import T0, blocks

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def test_old_forecasts_go_with_the_envelope_that_ended(group, receive, settings):
    settings.FORECAST_RETENTION_DAYS = 35
    old = receive(group, block_list=blocks(T0, count=4), received_at=T0 - DAY)
    # Received as long ago, but a block reaches past the cutoff: it still applies.
    lasting = receive(group, block_list=blocks(T0 + 30 * DAY, count=4), received_at=T0 - DAY)
    recent = receive(group, block_list=blocks(T0 + 40 * DAY, count=4), received_at=T0 + 39 * DAY)
    ComplianceError.objects.create(group=group, forecast=old, message="limit exceeded")
    now = T0 + 40 * DAY

    assert forecasts_prune(now=now) == 1

    assert set(Forecast.objects.values_list("id", flat=True)) == {lasting.id, recent.id}
    assert not Envelope.objects.filter(end__lte=now - 35 * DAY).exists()
    assert Envelope.objects.filter(forecast=lasting, start=T0 + 30 * DAY).exists()
    assert ComplianceError.objects.get().forecast is None  # the error stays, without its source
    assert envelope_in_force(group=group, at=T0 + 40 * DAY)["importLimits"][0]["value"] == 10


def test_nothing_within_the_retention_period_is_pruned(group, receive, settings):
    settings.FORECAST_RETENTION_DAYS = 35
    receive(group, block_list=blocks(T0, count=96), received_at=T0 - DAY)
    rows = Envelope.objects.count()

    assert forecasts_prune(now=T0 + 34 * DAY) == 0
    assert Forecast.objects.count() == 1
    assert len(Forecast.objects.get().block_list()) == 96
    assert Envelope.objects.count() == rows


def test_the_hourly_task_prunes_in_batches(group, receive, settings, monkeypatch, at_time):
    settings.FORECAST_RETENTION_DAYS = 1
    monkeypatch.setattr("forecasts.services.PRUNE_BATCH", 2)
    for n in range(5):
        receive(group, block_list=blocks(T0 + n * timedelta(hours=1)), received_at=T0 - DAY)

    at_time(T0 + 3 * DAY)
    assert forecasts_prune_task() == 5
    assert not Forecast.objects.exists()
    assert "forecasts-prune" in settings.CELERY_BEAT_SCHEDULE
