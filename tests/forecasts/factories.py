from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from forecasts.choices import BlockUnit, EnvelopeReason, ForecastType, PhaseIndicator, Quantity
from forecasts.models import (
    AdjustmentRequest,
    ComplianceError,
    Envelope,
    EnvelopeSubscription,
    Forecast,
    blocks_stored,
)
from tests.groups.factories import CapacityGroupFactory


def block(start, end=None, *, capacity=10, phase=PhaseIndicator.ALL, unit=BlockUnit.KW) -> dict:
    """One block as ``forecast_receive`` takes them: 10 kW on all phases for 15 minutes."""
    end = end or start + timedelta(minutes=15)
    return {"capacity": Decimal(capacity), "phase": phase, "unit": unit, "start_time": start, "end_time": end}


class ForecastFactory(factory.django.DjangoModelFactory):
    """A consumption forecast received now, without a sender (as staff enter them); its blocks
    from ``block_list`` (``block`` dicts), none by default."""

    class Meta:
        model = Forecast

    class Params:
        block_list: list = []

    group = factory.SubFactory(CapacityGroupFactory)
    type = ForecastType.CONSUMPTION
    request_id = factory.Sequence(lambda n: f"forecast-{n}")
    received_at = factory.LazyFunction(timezone.now)
    blocks = factory.LazyAttribute(lambda f: blocks_stored(f.block_list))
    starts_at = factory.LazyAttribute(lambda f: min((b["start_time"] for b in f.block_list), default=None))
    ends_at = factory.LazyAttribute(lambda f: max((b["end_time"] for b in f.block_list), default=None))


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
