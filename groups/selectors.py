"""Reads on capacity groups and their assets."""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from oscp_platform.raw import columns_sql, raw_model

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
    """Whether the provider's forecasts for the group are behind what it declares: its cadence
    has passed since its last forecast (none yet counts), or, with a horizon, its last forecast
    reaches less far ahead than the horizon (less one cadence: a forecast every 15 minutes for 24
    hours always reaches at least 23¾ hours ahead). None when it declares neither. Reads the
    ``last_forecast_at`` and ``forecast_until`` annotations of the forecasts app."""
    provider = group.capacity_provider
    cadence, horizon = provider.forecast_cadence_minutes or 0, provider.forecast_horizon_hours or 0
    if not cadence and not horizon:
        return None
    last = getattr(group, "last_forecast_at", None)
    if last is None or (cadence and last + timedelta(minutes=cadence) < now):
        return True
    if horizon:
        until = getattr(group, "forecast_until", None)
        return until is None or until < now + timedelta(hours=horizon) - timedelta(minutes=cadence)
    return False


def groups_forecast_stale_ids(groups: QuerySet[CapacityGroup], *, now: datetime) -> list[int]:
    """The ids of ``groups`` whose forecasts are stale (``forecast_stale``), read in one query."""
    if PANELS.last_forecast_annotate is not None:
        groups = PANELS.last_forecast_annotate(groups)
    rows = groups.select_related("capacity_provider").only(
        "id", "capacity_provider__forecast_cadence_minutes", "capacity_provider__forecast_horizon_hours"
    )
    return [group.pk for group in rows if forecast_stale(group, now=now)]


def asset_list(*, user) -> QuerySet[Asset]:
    """The assets of ``user``'s groups, each with its group."""
    return Asset.objects.filter(group__owner=user).select_related("group")


# Every group-scoped OSCP message asks this; written out rather than built by the ORM, which
# costs several times the query itself.
_GROUP_FOR_PARTNER = f"""
SELECT {columns_sql(CapacityGroup, "g")} FROM groups_capacitygroup g
WHERE identifier = %s AND (capacity_provider_id = %s OR capacity_optimizer_id = %s)
ORDER BY id LIMIT 1
"""


def group_for_partner(*, partner, identifier: str) -> CapacityGroup | None:
    """The group ``identifier`` names if ``partner`` is its Capacity Provider or Optimizer, else
    None: another account's group looks exactly like an unknown one. ``partner`` is the group's
    ``capacity_provider`` or ``capacity_optimizer`` object (the other end is read when used)."""
    group = raw_model(CapacityGroup, _GROUP_FOR_PARTNER, [identifier, partner.pk, partner.pk])
    if group is not None:
        if group.capacity_provider_id == partner.pk:
            group.capacity_provider = partner
        if group.capacity_optimizer_id == partner.pk:
            group.capacity_optimizer = partner
    return group
