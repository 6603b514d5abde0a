"""Every factory builds a row its model accepts, so tests can rely on the defaults."""

import pytest

from tests.connections import factories as connections
from tests.forecasts import factories as forecasts
from tests.groups import factories as groups
from tests.measurements import factories as measurements

FACTORIES = [
    connections.UserFactory,
    connections.CapacityProviderFactory,
    connections.CapacityOptimizerFactory,
    connections.MessageFactory,
    groups.CapacityGroupFactory,
    groups.AssetFactory,
    forecasts.ForecastFactory,
    forecasts.EnvelopeFactory,
    forecasts.EnvelopeSubscriptionFactory,
    forecasts.AdjustmentRequestFactory,
    forecasts.ComplianceErrorFactory,
    measurements.ReadingFactory,
    measurements.ReportCursorFactory,
]


@pytest.mark.django_db
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_factory_creates_a_row(factory):
    first, second = factory(), factory()
    model = factory._meta.model
    assert model.objects.filter(pk__in=[first.pk, second.pk]).count() == 2


@pytest.mark.django_db
def test_a_reading_takes_the_stream_of_its_asset():
    asset = groups.AssetFactory()
    reading = measurements.ReadingFactory(asset=asset)
    assert (reading.owner_id, reading.node_id, reading.source_id) == (
        asset.group.owner_id,
        asset.node_id,
        asset.source_id,
    )
