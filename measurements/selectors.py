"""Reads on report cursors, the assets a report covers, and a group's measured power."""

from collections import defaultdict
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.db.models import Q, QuerySet

from connections.models import Partner
from groups.choices import PERIOD_SECONDS, Audience, MeasurementPeriod
from groups.models import Asset

from .models import ReportCursor
from .power import power_series

AUDIENCE_FIELDS = {
    Audience.CAPACITY_PROVIDER: ("capacity_provider", "capacity_provider_measurement_period"),
    Audience.CAPACITY_OPTIMIZER: ("capacity_optimizer", "capacity_optimizer_measurement_period"),
}


def report_cursors_due(*, closed_by: datetime) -> QuerySet[ReportCursor]:
    """Cursors of enabled groups and partners whose next period closed by ``closed_by``, locked
    for the caller's transaction; rows another worker holds are skipped."""
    partner_enabled = Q()
    for audience, (partner_field, _) in AUDIENCE_FIELDS.items():
        partner_enabled |= Q(audience=audience, **{f"group__{partner_field}__enabled": True})
    return (
        ReportCursor.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(partner_enabled, group__enabled=True, next_due_at__lte=closed_by)
        .order_by("next_due_at")
    )


def report_assets(*, group, audience: str) -> list:
    """The enabled assets of ``group`` reported to ``audience``."""
    return list(group.assets.filter(audience=audience, enabled=True).select_related("group"))


# What a report round reads of a cursor and its group, and of an asset. The round reads them as
# plain rows (``SimpleNamespace``: the same attribute names) rather than model instances, which
# for a thousand of each took a tenth of the round.
REPORT_CURSOR_FIELDS = [
    f.attname for f in ReportCursor._meta.concrete_fields if f.name not in ("group", "created", "modified")
]
REPORT_GROUP_FIELDS = [
    "id",
    "owner_id",
    "identifier",
    "enabled",
    "capacity_provider_id",
    "capacity_optimizer_id",
    "capacity_provider_measurement_period",
    "capacity_optimizer_measurement_period",
    "report_zero_when_no_data",
    "combined_asset_id",
]
REPORT_ASSET_FIELDS = [
    "id",
    "group_id",
    "identifier",
    "audience",
    "enabled",
    "node_id",
    "source_id",
    "category",
    "phase",
    "instantaneous",
    "energy",
]


def report_cursors_claim(*, cursor_ids: list[int], closed_by: datetime) -> list[SimpleNamespace]:
    """The cursors of ``cursor_ids`` still due by ``closed_by``, locked (``report_cursors_due``),
    each with its ``group``, as plain rows."""
    group_columns = [f"group__{name}" if name != "id" else "group_id" for name in REPORT_GROUP_FIELDS]
    rows = report_cursors_due(closed_by=closed_by).filter(id__in=cursor_ids)
    cursors = []
    split = len(REPORT_CURSOR_FIELDS)
    for row in rows.values_list(*REPORT_CURSOR_FIELDS, *group_columns):
        cursor = SimpleNamespace(**dict(zip(REPORT_CURSOR_FIELDS, row[:split], strict=True)))
        cursor.group = SimpleNamespace(**dict(zip(REPORT_GROUP_FIELDS, row[split:], strict=True)))
        cursor.group_id = cursor.group.id
        cursors.append(cursor)
    return cursors


def report_assets_of(*, groups: dict) -> dict[tuple[int, str], list]:
    """The enabled assets of ``groups`` (by id) per (group id, audience), in one query, as plain
    rows; each asset's ``group`` is the given one."""
    found = defaultdict(list)
    assets = Asset.objects.filter(group_id__in=list(groups), enabled=True).order_by("id")
    for row in assets.values_list(*REPORT_ASSET_FIELDS):
        asset = SimpleNamespace(**dict(zip(REPORT_ASSET_FIELDS, row, strict=True)))
        asset.group = groups[asset.group_id]
        found[(asset.group_id, asset.audience)].append(asset)
    return found


# What reports need of a partner (the rest, secrets included, is not read).
REPORT_PARTNER_FIELDS = [
    "id",
    "enabled",
    "measurement_message",
    "combined_asset_id",
    "one_asset_per_group",
    "send_empty_measurements",
]


def report_partners(*, groups) -> dict[int, Partner]:
    """The partners ``groups`` report to, by id, in one query."""
    ids = {g.capacity_provider_id for g in groups} | {g.capacity_optimizer_id for g in groups}
    return Partner.objects.only(*REPORT_PARTNER_FIELDS).in_bulk(ids - {None})


CHART_MAX_POINTS = 300


def group_power_series(*, group, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """The group's measured power as (period start, kW) points over [start, end), import positive
    and export negative, computed in SQL from the readings (``power.power_series``). It covers the
    enabled assets reported to the Capacity Provider (the limits' audience), or to the optimizer
    when the group reports nothing to the provider, so a meter listed for both counts once. Periods
    are the group's provider measurement period, widened to the next longer period until there are
    at most ``CHART_MAX_POINTS``; periods without data are absent."""
    assets = report_assets(group=group, audience=Audience.CAPACITY_PROVIDER)
    if not assets:
        assets = report_assets(group=group, audience=Audience.CAPACITY_OPTIMIZER)
    period = group.capacity_provider_measurement_period or MeasurementPeriod.FIFTEEN_MINUTE
    seconds = PERIOD_SECONDS[period]
    span = (end - start).total_seconds()
    for longer in sorted(PERIOD_SECONDS.values()):
        if longer >= seconds and span / longer <= CHART_MAX_POINTS:
            seconds = longer
            break
    else:
        seconds = max(PERIOD_SECONDS.values())
    return power_series(assets=assets, start=start, end=end, step=timedelta(seconds=seconds))
