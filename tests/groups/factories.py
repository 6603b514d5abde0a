import factory

from groups.choices import AssetCategory, Audience, MeasurementPeriod, Phase
from groups.models import Asset, CapacityGroup
from tests.connections.factories import CapacityProviderFactory


class CapacityGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CapacityGroup

    capacity_provider = factory.SubFactory(CapacityProviderFactory)
    owner = factory.SelfAttribute("capacity_provider.owner")
    name = factory.Sequence(lambda n: f"Group {n}")
    identifier = factory.Sequence(lambda n: f"group-{n}")
    capacity_provider_measurement_period = MeasurementPeriod.FIFTEEN_MINUTE
    microgrid_id = "mg-1"
    node_id = 123


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset

    group = factory.SubFactory(CapacityGroupFactory)
    name = factory.Sequence(lambda n: f"Charger {n}")
    identifier = factory.Sequence(lambda n: f"asset-{n}")
    audience = Audience.CAPACITY_PROVIDER
    node_id = 123
    source_id = factory.Sequence(lambda n: f"charger/{n}")
    category = AssetCategory.CHARGING
    phase = Phase.ALL
    instantaneous = factory.LazyFunction(
        lambda: {"propertyNames": ["watts"], "unit": "W", "multiplier": 1, "statisticType": "Maximum"}
    )
    energy = factory.LazyFunction(
        lambda: {
            "propertyNames": ["wattHours"],
            "unit": "Wh",
            "multiplier": 1,
            "statisticType": "Difference",
            "type": "Total",
            "direction": "Import",
        }
    )
