from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from forecasts.choices import BlockUnit, EnvelopeReason, ForecastType, PhaseIndicator, Quantity
from forecasts.models import AdjustmentRequest, ComplianceError, Envelope, EnvelopeSubscription, Forecast, ForecastBlock
from tests.groups.factories import CapacityGroupFactory


class ForecastFactory(factory.django.DjangoModelFactory):
    """A consumption forecast received now, without a sender (as staff enter them)."""

    class Meta:
        model = Forecast

    group = factory.SubFactory(CapacityGroupFactory)
    type = ForecastType.CONSUMPTION
    request_id = factory.Sequence(lambda n: f"forecast-{n}")
    received_at = factory.LazyFunction(timezone.now)


class ForecastBlockFactory(factory.django.DjangoModelFactory):
    """10 kW on all phases for the 15 minutes after the forecast arrived."""

    class Meta:
        model = ForecastBlock

    forecast = factory.SubFactory(ForecastFactory)
    capacity = Decimal(10)
    phase = PhaseIndicator.ALL
    unit = BlockUnit.KW
    start_time = factory.SelfAttribute("forecast.received_at")
    end_time = factory.LazyAttribute(lambda block: block.start_time + timedelta(minutes=15))


class EnvelopeFactory(factory.django.DjangoModelFactory):
    """An import limit of 10 kW from the platform default, for the next 15 minutes."""

    class Meta:
        model = Envelope

    group = factory.SubFactory(CapacityGroupFactory)
    microgrid_id = factory.SelfAttribute("group.microgrid_id")
    node_id = factory.SelfAttribute("group.node_id")
    quantity = Quantity.IMPORT
    value = Decimal(10)
    start = factory.LazyFunction(timezone.now)
    end = factory.LazyAttribute(lambda envelope: envelope.start + timedelta(minutes=15))
    reason = EnvelopeReason.DEFAULT
    rule = "platform-default-import"


class EnvelopeSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnvelopeSubscription

    group = factory.SubFactory(CapacityGroupFactory)
    url = factory.Sequence(lambda n: f"https://tool.example.com/hook/{n}")
    secret = factory.Sequence(lambda n: f"hook-secret-{n}")


class AdjustmentRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AdjustmentRequest

    group = factory.SubFactory(CapacityGroupFactory)
    type = ForecastType.CONSUMPTION
    request_id = factory.Sequence(lambda n: f"adjust-{n}")


class ComplianceErrorFactory(factory.django.DjangoModelFactory):
    """A compliance error about a forecast of the same group."""

    class Meta:
        model = ComplianceError

    group = factory.SubFactory(CapacityGroupFactory)
    forecast = factory.SubFactory(ForecastFactory, group=factory.SelfAttribute("..group"))
    correlation_id = factory.SelfAttribute("forecast.request_id")
    message = "Cannot comply."
