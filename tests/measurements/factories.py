from datetime import timedelta

import factory
from django.utils import timezone

from groups.choices import PERIOD_SECONDS, Audience, MeasurementPeriod
from measurements.models import Reading, ReportCursor
from tests.connections.factories import UserFactory
from tests.groups.factories import CapacityGroupFactory


class ReadingFactory(factory.django.DjangoModelFactory):
    """A meter reading, now. ``asset=`` takes the stream (owner, node, source) of that asset."""

    class Meta:
        model = Reading

    class Params:
        asset = None

    owner = factory.Maybe(
        "asset",
        yes_declaration=factory.SelfAttribute("asset.group.owner"),
        no_declaration=factory.SubFactory(UserFactory),
    )
    node_id = factory.Maybe("asset", yes_declaration=factory.SelfAttribute("asset.node_id"), no_declaration=123)
    source_id = factory.Maybe(
        "asset",
        yes_declaration=factory.SelfAttribute("asset.source_id"),
        no_declaration=factory.Sequence(lambda n: f"meter/{n}"),
    )
    ts = factory.LazyFunction(timezone.now)
    instantaneous = factory.LazyFunction(dict)
    accumulating = factory.LazyFunction(dict)


class ReportCursorFactory(factory.django.DjangoModelFactory):
    """The Capacity Provider's cursor of a group: the last period reported ended at the last full
    minute, the next one is due a period later."""

    class Meta:
        model = ReportCursor

    group = factory.SubFactory(CapacityGroupFactory)
    audience = Audience.CAPACITY_PROVIDER
    period = MeasurementPeriod.FIFTEEN_MINUTE
    last_period_end = factory.LazyFunction(lambda: timezone.now().replace(second=0, microsecond=0))
    next_due_at = factory.LazyAttribute(
        lambda cursor: cursor.last_period_end + timedelta(seconds=PERIOD_SECONDS[cursor.period])
    )
