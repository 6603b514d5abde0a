"""Power of several assets together, computed from readings.

* ``sites_summary`` (``site_statistic`` for one site) — a combined asset's instantaneous value:
  the statistic of the *summed* site power, not the sum of each asset's statistic. At every
  instant an asset reported in the window, the site power is the sum of each asset's latest value
  (its last reading before the window, within ``MEASUREMENTS_EDGE_TOLERANCE_SECONDS``, counts
  too); instants before every asset has a value are left out. Maximum, Minimum, Start and End are
  taken over those instants; Count is how many there are; Average is their plain mean.
* ``power_series`` — measured average power (kW) per period of several assets together, for the
  group operating view's chart (``selectors.group_power_series``).

Each is one query, the same text on PostgreSQL and SQLite (``sql``): the summed site power is a
running sum of each asset's changes; the series spreads counter differences over periods in
whole milliseconds.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from groups.choices import EnergyDirection, MeasurementUnit, StatisticType

from .aggregation import AssetSpec, spec_of
from .sql import db_time, epoch_ms, json_key, json_time, rows_param, rows_sql

# The statistics where the statistic of a sum differs from the sum of the statistics.
NOT_ADDITIVE = {
    StatisticType.MAXIMUM,
    StatisticType.MINIMUM,
    StatisticType.START,
    StatisticType.END,
    StatisticType.COUNT,
}


@dataclass(frozen=True)
class SiteSummary:
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
    site = sites_summary(sites=[(list(assets), start, end)], tolerance=tolerance).get(0)
    return site.statistic(statistic) if site is not None else None


def sites_summary(*, sites: list[tuple], tolerance: timedelta | None = None) -> dict[int, SiteSummary]:
    """The summed power's summary per index into ``sites``, each (pairs of (asset, scale), start,
    end), in one query; sites without data are absent."""
    if tolerance is None:
        tolerance = timedelta(seconds=settings.MEASUREMENTS_EDGE_TOLERANCE_SECONDS)
    lanes, lo, hi = [], None, None
    for site, (assets, start, end) in enumerate(sites):
        window = [json_time(start), json_time(start - tolerance), json_time(end)]
        for asset, scale in assets:
            spec = spec_of(asset)
            factor = float(scale) * spec.instantaneous_multiplier
            for name in spec.instantaneous_properties:
                lanes.append([site, spec.asset_id, spec.owner_id, spec.node_id, spec.source_id, json_key(name), factor])
                lanes[-1] += window
                lo = min(lo or start, start - tolerance)
                hi = max(hi or end, end)
    if not lanes:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_SITE_SQL.format(lanes=rows_sql(_SITE_COLUMNS)), [rows_param(lanes), db_time(lo), db_time(hi)])
        return {row[0]: SiteSummary(*row[1:]) for row in cursor.fetchall()}


_SITE_COLUMNS = [("site", "INTEGER"), ("asset_id", "BIGINT"), ("owner_id", "BIGINT"), ("node_id", "BIGINT")]
_SITE_COLUMNS += [("source_id", "TEXT"), ("prop", "TEXT"), ("scale", "DOUBLE PRECISION")]
_SITE_COLUMNS += [(name, "TIMESTAMP WITH TIME ZONE") for name in ("w_start", "lo", "w_end")]
# One lane per site, asset and property name: the asset's value at a reading is the sum of its
# lanes' values × scale.
_SITE_SQL = """
WITH lane (site, asset_id, owner_id, node_id, source_id, prop, scale, w_start, lo, w_end) AS MATERIALIZED ({lanes}),
v AS (
    SELECT l.site, l.asset_id, r.ts, min(l.w_start) AS w_start,
        sum(CAST(r.instantaneous ->> l.prop AS DOUBLE PRECISION) * CAST(l.scale AS DOUBLE PRECISION)) AS w
    FROM lane l
    JOIN measurements_reading r
        ON r.owner_id = l.owner_id AND r.node_id = l.node_id AND r.source_id = l.source_id
        AND r.ts >= l.lo AND r.ts < l.w_end
    WHERE r.ts >= %s AND r.ts < %s
    GROUP BY l.site, l.asset_id, r.ts
),
-- Each reading as the change it makes to its asset's held value (its first: from nothing).
d AS (
    SELECT site, asset_id, ts, w_start, w, w - lag(w) OVER (PARTITION BY site, asset_id ORDER BY ts) AS dw
    FROM v WHERE w IS NOT NULL
),
t AS (
    SELECT site, ts, min(w_start) AS w_start, sum(coalesce(dw, w)) AS dw,
        sum(CASE WHEN dw IS NULL THEN 1 ELSE 0 END) AS new_assets
    FROM d GROUP BY site, ts
),
-- ``known``: how many assets have a value by then; ``assets``: how many have one at all.
s AS (
    SELECT site, ts, w_start, sum(dw) OVER w AS w, sum(new_assets) OVER w AS known,
        sum(new_assets) OVER (PARTITION BY site) AS assets
    FROM t
    WINDOW w AS (PARTITION BY site ORDER BY ts ROWS UNBOUNDED PRECEDING)
),
-- The instants in the window at which every asset has a value.
p AS (
    SELECT site, ts, w, lag(ts) OVER x AS prev_t, lead(ts) OVER x AS next_t
    FROM s
    WHERE ts >= w_start AND known = assets
    WINDOW x AS (PARTITION BY site ORDER BY ts)
)
SELECT site, count(*), avg(w), min(w), max(w),
    max(CASE WHEN prev_t IS NULL THEN w END), max(CASE WHEN next_t IS NULL THEN w END)
FROM p GROUP BY site
"""


# --- the group's measured power per period ------------------------------------------------------

ENERGY_WH = {MeasurementUnit.WH: 1.0, MeasurementUnit.KWH: 1000.0}
POWER_KW = {MeasurementUnit.W: 0.001, MeasurementUnit.KW: 1.0}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PowerSpec:
    """How one asset's power is read: from its energy counter (Wh per hour) where it has one in
    Wh/kWh, else from its instantaneous W/kW values; ``sign`` is -1 for export."""

    spec: AssetSpec
    from_energy: bool
    scale: float  # counter × scale = Wh, or value × scale = kW (the multiplier included)
    sign: float


def power_spec(asset) -> PowerSpec | None:
    spec = AssetSpec.of(asset)
    energy, inst = asset.energy or {}, asset.instantaneous or {}
    sign = -1.0 if energy.get("direction") == EnergyDirection.EXPORT else 1.0
    if spec.energy_properties and energy.get("unit") in ENERGY_WH:
        return PowerSpec(spec, True, spec.energy_multiplier * ENERGY_WH[energy["unit"]], sign)
    if spec.instantaneous_properties and inst.get("unit") in POWER_KW:
        return PowerSpec(spec, False, spec.instantaneous_multiplier * POWER_KW[inst["unit"]], sign)
    return None


def power_series(
    *, assets: Iterable, start: datetime, end: datetime, step: timedelta, tolerance: timedelta | None = None
) -> list[tuple[datetime, float]]:
    """(period start, kW) for each period of ``step`` (aligned to the hour) overlapping [start,
    end) in which any of ``assets`` has data: the sum of each asset's average power over the part
    of the period it has data for. From a counter, the energy between two consecutive readings (no
    further apart than twice the edge tolerance, as a report would interpolate between them; no
    reset) is spread over the periods they span in proportion to time; from instantaneous values,
    their mean."""
    specs = [p for p in (power_spec(a) for a in assets) if p is not None]
    if not specs:
        return []
    if tolerance is None:
        tolerance = timedelta(seconds=settings.MEASUREMENTS_EDGE_TOLERANCE_SECONDS)
    first = start - (start - EPOCH) % step
    max_gap = 2 * tolerance  # the longest gap between two readings an edge is interpolated across
    return _series(specs, first, end, step, max_gap)


# One lane per asset and property name. Times are whole milliseconds since the epoch
# (``sql.EPOCH_MS``), so periods are integer divisions. ``n`` numbers the periods a pair of
# readings (at most ``max_gap`` apart) can span.
_SERIES_SQL = """
WITH RECURSIVE
lane (k, owner_id, node_id, source_id, prop, from_energy, scale, sign, lo, hi) AS MATERIALIZED ({lanes}),
n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %s),
v AS (
    SELECT l.k, r.ts, {epoch_ms} AS t, min(l.from_energy) AS from_energy, min(l.sign) AS sign,
        sum(CAST(CASE WHEN l.from_energy = 1 THEN r.accumulating ->> l.prop ELSE r.instantaneous ->> l.prop END
            AS DOUBLE PRECISION) * CAST(l.scale AS DOUBLE PRECISION)) AS v
    FROM lane l
    JOIN measurements_reading r
        ON r.owner_id = l.owner_id AND r.node_id = l.node_id AND r.source_id = l.source_id
        AND r.ts >= l.lo AND r.ts < l.hi
    WHERE r.ts >= %s AND r.ts < %s
    GROUP BY l.k, r.ts
),
pairs AS (
    SELECT k, sign, lag(t) OVER w AS t0, lag(v) OVER w AS v0, t AS t1, v AS v1
    FROM v WHERE from_energy = 1 AND v IS NOT NULL
    WINDOW w AS (PARTITION BY k ORDER BY ts)
),
spans AS (
    SELECT k, sign, t0, v0, t1, v1, (t0 / %s) * %s + n.i * %s AS p
    FROM pairs JOIN n ON (t0 / %s) * %s + n.i * %s < t1
    WHERE t0 IS NOT NULL AND t1 - t0 <= %s AND v1 >= v0 AND t1 > t0
),
spread AS (
    SELECT k, sign, p,
        (CASE WHEN t1 < p + %s THEN t1 ELSE p + %s END) - (CASE WHEN t0 > p THEN t0 ELSE p END) AS ms, v1 - v0 AS dv,
        t1 - t0 AS span
    FROM spans
),
per_asset AS (
    SELECT p, CAST(min(sign) AS DOUBLE PRECISION) * sum(dv * ms / span) * 3600.0 / sum(ms) AS kw
    FROM spread GROUP BY k, p HAVING sum(ms) > 0
    UNION ALL
    SELECT (t / %s) * %s AS p, CAST(min(sign) AS DOUBLE PRECISION) * avg(v) AS kw
    FROM v WHERE from_energy = 0 AND v IS NOT NULL
    GROUP BY k, p
)
SELECT p, sum(kw) FROM per_asset
WHERE p >= %s AND p < %s
GROUP BY p ORDER BY p
"""


_SERIES_COLUMNS = [("k", "INTEGER"), ("owner_id", "BIGINT"), ("node_id", "BIGINT"), ("source_id", "TEXT")]
_SERIES_COLUMNS += [("prop", "TEXT"), ("from_energy", "INTEGER"), ("scale", "DOUBLE PRECISION")]
_SERIES_COLUMNS += [
    ("sign", "DOUBLE PRECISION"),
    ("lo", "TIMESTAMP WITH TIME ZONE"),
    ("hi", "TIMESTAMP WITH TIME ZONE"),
]


def _series(specs: list[PowerSpec], first, end, step, max_gap) -> list[tuple[datetime, float]]:
    lanes = []
    for k, p in enumerate(specs):
        props = p.spec.energy_properties if p.from_energy else p.spec.instantaneous_properties
        lo, hi = (first - max_gap, end + max_gap) if p.from_energy else (first, end)
        lanes += [
            [
                k,
                p.spec.owner_id,
                p.spec.node_id,
                p.spec.source_id,
                json_key(name),
                int(p.from_energy),
                p.scale,
                p.sign,
                json_time(lo),
                json_time(hi),
            ]
            for name in props
        ]
    step_ms, gap_ms = _ms(step), _ms(max_gap)
    spans = gap_ms // step_ms + 2
    sql = _SERIES_SQL.format(lanes=rows_sql(_SERIES_COLUMNS), epoch_ms=epoch_ms("r.ts"))
    bounds = [db_time(first - max_gap), db_time(end + max_gap)]
    params = [rows_param(lanes), spans, *bounds, *[step_ms] * 6, gap_ms, *[step_ms] * 4]
    params += [_ms(first - EPOCH), _ms(end - EPOCH)]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The planner cannot see how many assets the lanes hold; compiling the query (JIT)
            # would cost more than running it.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return [(EPOCH + timedelta(milliseconds=p), float(kw)) for p, kw in cursor.fetchall()]


def _ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)
