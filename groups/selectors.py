"""Reads on capacity groups and their assets."""

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from .models import Asset, CapacityGroup
from .panels import PANELS


def group_list(*, user) -> QuerySet[CapacityGroup]:
    """The capacity groups of ``user``'s account, with their provider and, where the forecasts
    app tells, when the provider last sent a forecast (``last_forecast_at``)."""
    groups = CapacityGroup.objects.filter(owner=user).select_related("capacity_provider")
    if PANELS.last_forecast_annotate is not None:
        groups = PANELS.last_forecast_annotate(groups)
    return groups


def forecast_stale(group: CapacityGroup, *, now: datetime) -> bool | None:
    """True when the provider's expected forecast cadence has passed since its last forecast for
    the group (none yet counts); None when the provider declares no cadence."""
    cadence = group.capacity_provider.forecast_cadence_minutes
    if not cadence:
        return None
    last = getattr(group, "last_forecast_at", None)
    return last is None or last + timedelta(minutes=cadence) < now


def asset_list(*, user) -> QuerySet[Asset]:
    """The assets of ``user``'s groups, each with its group."""
    return Asset.objects.filter(group__owner=user).select_related("group")


def group_for_partner(*, partner, identifier: str) -> CapacityGroup | None:
    """The group ``identifier`` names if ``partner`` is its Capacity Provider or Optimizer, else
    None: another account's group looks exactly like an unknown one."""
    return (
        CapacityGroup.objects.select_related("capacity_provider")
        .filter(identifier=identifier)
        .filter(Q(capacity_provider=partner) | Q(capacity_optimizer=partner))
        .first()
    )
