"""Power of several assets together, computed from readings.

* ``site_statistic`` — a combined asset's instantaneous value: the statistic of the *summed* site
  power, not the sum of each asset's statistic. At every instant an asset reported in the window,
  the site power is the sum of each asset's latest value (its last reading before the window, within
  ``MEASUREMENTS_EDGE_TOLERANCE_SECONDS``, counts too); instants before every asset has a value
  are left out. Maximum, Minimum, Start and End are taken over those instants; Count is how many
  there are; Average is their plain mean.
* ``group_power_series`` (see ``selectors``) — the group's measured average power per period.

On PostgreSQL each is one query (the summed series is a running sum of each asset's changes);
elsewhere the same is computed in Python from the readings.
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from groups.choices import StatisticType

from .aggregation import AssetSpec, property_sum, stream_readings

# The statistics where the statistic of a sum differs from the sum of the statistics.
NOT_ADDITIVE = {
    StatisticType.MAXIMUM,
    StatisticType.MINIMUM,
    StatisticType.START,
    StatisticType.END,
    StatisticType.COUNT,
}


@dataclass(frozen=True)
class _Site:
    count: int
    avg: float | None
    min: float | None
    max: float | None
    start: float | None
    end: float | None

    def statistic(self, statistic: str) -> float | None:
        if not self.count:
            return None
        return {
            StatisticType.COUNT: float(self.count),
            StatisticType.AVERAGE: self.avg,
            StatisticType.MINIMUM: self.min,
            StatisticType.MAXIMUM: self.max,
            StatisticType.START: self.start,
            StatisticType.END: self.end,
        }.get(statistic)


def site_statistic(
    *,
    assets: Iterable[tuple],
    statistic: str,
    start: datetime,
    end: datetime,
    tolerance: timedelta | None = None,
) -> float | None:
    """``statistic`` over [start, end) of the summed power of ``assets``, given as pairs of
    (``groups.Asset`` or ``AssetSpec``, scale): each asset's value is the sum of its instantaneous
    properties × scale (so scales can bring every asset to W). None without data."""
    scaled = [(a if isinstance(a, AssetSpec) else AssetSpec.of(a), float(scale)) for a, scale in assets]
    scaled = [(spec, scale) for spec, scale in scaled if spec.instantaneous_properties]
    if not scaled:
        return None
    if tolerance is None:
        tolerance = timedelta(seconds=settings.MEASUREMENTS_EDGE_TOLERANCE_SECONDS)
    if connection.vendor == "postgresql":
        site = _site_sql(scaled, start - tolerance, start, end)
    else:
        site = _site_python(scaled, start - tolerance, start, end)
    return site.statistic(statistic)


_SITE_SQL = """
WITH spec AS (
    SELECT * FROM jsonb_to_recordset(%(spec)s::jsonb)
        AS s(asset_id bigint, owner_id bigint, node_id bigint, source_id text, iprops text[], scale float8)
),
v AS (
    SELECT s.asset_id, r.ts,
        CASE WHEN cardinality(s.iprops) = 1 THEN (r.instantaneous ->> s.iprops[1])::float8
            ELSE (SELECT sum((r.instantaneous ->> p)::float8) FROM unnest(s.iprops) AS p)
        END * s.scale AS w
    FROM spec s
    JOIN measurements_reading r
        ON r.owner_id = s.owner_id AND r.node_id = s.node_id AND r.source_id = s.source_id
        AND r.ts >= %(lo)s AND r.ts < %(end)s
),
-- Each reading as the change it makes to its asset's held value (its first: from nothing).
d AS (
    SELECT ts, w - lag(w) OVER (PARTITION BY asset_id ORDER BY ts) AS dw, w AS first_w
    FROM v WHERE w IS NOT NULL
),
t AS (
    SELECT ts, sum(coalesce(dw, first_w)) AS dw, count(*) FILTER (WHERE dw IS NULL) AS new_assets
    FROM d GROUP BY ts
),
site AS (
    SELECT ts, sum(dw) OVER (ORDER BY ts) AS w, sum(new_assets) OVER (ORDER BY ts) AS known
    FROM t
)
SELECT count(*), avg(w), min(w), max(w), (array_agg(w ORDER BY ts))[1], (array_agg(w ORDER BY ts DESC))[1]
FROM site
WHERE ts >= %(start)s AND known = (SELECT count(DISTINCT asset_id) FROM v WHERE w IS NOT NULL)
"""


def _site_sql(scaled, lo, start, end) -> _Site:
    payload = json.dumps(
        [
            {
                "asset_id": spec.asset_id,
                "owner_id": spec.owner_id,
                "node_id": spec.node_id,
                "source_id": spec.source_id,
                "iprops": list(spec.instantaneous_properties),
                "scale": scale * spec.instantaneous_multiplier,
            }
            for spec, scale in scaled
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(_SITE_SQL, {"spec": payload, "lo": lo, "start": start, "end": end})
        return _Site(*cursor.fetchone())


def _site_python(scaled, lo, start, end) -> _Site:
    scales = {spec.asset_id: scale * spec.instantaneous_multiplier for spec, scale in scaled}
    changes = defaultdict(dict)  # ts -> {asset_id: value}
    for spec, ts, inst, _ in stream_readings([s for s, _ in scaled], lo, end, include_hi=False):
        value = property_sum(inst, spec.instantaneous_properties)
        if value is not None:
            changes[ts][spec.asset_id] = value * scales[spec.asset_id]
    reporting = {asset_id for values in changes.values() for asset_id in values}
    held, points = {}, []
    for ts in sorted(changes):
        held.update(changes[ts])
        if ts >= start and len(held) == len(reporting):
            points.append(sum(held.values()))
    if not points:
        return _Site(0, None, None, None, None, None)
    return _Site(len(points), sum(points) / len(points), min(points), max(points), points[0], points[-1])
