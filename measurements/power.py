"""Power of several assets together, computed from readings.

* ``site_statistic`` — a combined asset's instantaneous value: the statistic of the *summed* site
  power, not the sum of each asset's statistic. At every instant an asset reported in the window,
  the site power is the sum of each asset's latest value (its last reading before the window, within
  ``MEASUREMENTS_EDGE_TOLERANCE_SECONDS``, counts too); instants before every asset has a value
  are left out. Maximum, Minimum, Start and End are taken over those instants; Count is how many
  there are; Average is their plain mean.
* ``power_series`` — measured average power (kW) per period of several assets together, for the
  group operating view's chart (``selectors.group_power_series``).

On PostgreSQL each is one query (the summed series is a running sum of each asset's changes);
elsewhere the same is computed in Python from the readings.
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from groups.choices import EnergyDirection, MeasurementUnit, StatisticType

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
    -- An index range scan per stream, whatever the planner guesses of the spec's size (OFFSET 0
    -- keeps the subquery from being flattened into a hash join over the whole table).
    CROSS JOIN LATERAL (
        SELECT ts, instantaneous FROM measurements_reading
        WHERE owner_id = s.owner_id AND node_id = s.node_id AND source_id = s.source_id
            AND ts >= %(lo)s AND ts < %(end)s
        OFFSET 0
    ) r
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
    if connection.vendor == "postgresql":
        return _series_sql(specs, first, end, step, max_gap)
    return _series_python(specs, first, end, step, max_gap)


_SERIES_SQL = """
WITH spec AS (
    SELECT * FROM jsonb_to_recordset(%(spec)s::jsonb)
        AS s(asset_id bigint, owner_id bigint, node_id bigint, source_id text, props text[],
             from_energy boolean, scale float8, sign float8)
),
-- Per stream: an index range scan in time order (OFFSET 0 keeps the subquery from being
-- flattened into a hash join over the whole table), so the window needs no sort.
pairs AS (
    SELECT s.asset_id, s.sign, r.t0, r.v0, r.t1, r.v1
    FROM spec s
    CROSS JOIN LATERAL (
        SELECT lag(ts) OVER w AS t0, lag(v) OVER w AS v0, ts AS t1, v AS v1
        FROM (
            SELECT ts,
                CASE WHEN cardinality(s.props) = 1 THEN (accumulating ->> s.props[1])::float8
                    ELSE (SELECT sum((accumulating ->> p)::float8) FROM unnest(s.props) AS p)
                END * s.scale AS v
            FROM measurements_reading
            WHERE owner_id = s.owner_id AND node_id = s.node_id AND source_id = s.source_id
                AND ts >= %(lo)s AND ts < %(hi)s
            ORDER BY ts
            OFFSET 0
        ) readings
        WHERE v IS NOT NULL
        WINDOW w AS (ORDER BY ts)
    ) r
    WHERE s.from_energy
),
spread AS (
    SELECT asset_id, sign, p,
        -- date_part, not extract: float8 arithmetic rather than numeric.
        (v1 - v0) * date_part('epoch', least(t1, p + %(step)s) - greatest(t0, p)) / date_part('epoch', t1 - t0) AS wh,
        date_part('epoch', least(t1, p + %(step)s) - greatest(t0, p)) AS seconds
    FROM pairs
    CROSS JOIN LATERAL generate_series(
        date_bin(%(step)s, t0, %(epoch)s), t1 - interval '1 microsecond', %(step)s
    ) AS p
    WHERE t0 IS NOT NULL AND t1 - t0 <= %(max_gap)s AND v1 >= v0
),
per_asset AS (
    SELECT asset_id, p, sign * sum(wh) * 3.6 / sum(seconds) AS kw
    FROM spread GROUP BY asset_id, sign, p HAVING sum(seconds) > 0
    UNION ALL
    SELECT s.asset_id, r.p, s.sign * r.kw
    FROM spec s
    CROSS JOIN LATERAL (
        SELECT date_bin(%(step)s, ts, %(epoch)s) AS p, avg(
            CASE WHEN cardinality(s.props) = 1 THEN (instantaneous ->> s.props[1])::float8
                ELSE (SELECT sum((instantaneous ->> p)::float8) FROM unnest(s.props) AS p)
            END * s.scale
        ) AS kw
        FROM measurements_reading
        WHERE owner_id = s.owner_id AND node_id = s.node_id AND source_id = s.source_id
            AND ts >= %(first)s AND ts < %(end)s
        GROUP BY 1
    ) r
    WHERE NOT s.from_energy AND r.kw IS NOT NULL
)
SELECT p, sum(kw) FROM per_asset
WHERE p >= %(first)s AND p < %(end)s
GROUP BY p ORDER BY p
"""


def _series_sql(specs: list[PowerSpec], first, end, step, max_gap) -> list[tuple[datetime, float]]:
    payload = json.dumps(
        [
            {
                "asset_id": p.spec.asset_id,
                "owner_id": p.spec.owner_id,
                "node_id": p.spec.node_id,
                "source_id": p.spec.source_id,
                "props": list(p.spec.energy_properties if p.from_energy else p.spec.instantaneous_properties),
                "from_energy": p.from_energy,
                "scale": p.scale,
                "sign": p.sign,
            }
            for p in specs
        ]
    )
    params = {
        "spec": payload,
        "lo": first - max_gap,
        "hi": end + max_gap,
        "first": first,
        "end": end,
        "step": step,
        "max_gap": max_gap,
        "epoch": EPOCH,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # The planner cannot see how many assets the spec holds; compiling the query (JIT) would
        # cost more than running it.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_SERIES_SQL, params)
        return [(p, float(kw)) for p, kw in cursor.fetchall()]


def _series_python(specs: list[PowerSpec], first, end, step, max_gap) -> list[tuple[datetime, float]]:
    by_id = {p.spec.asset_id: p for p in specs}
    points = defaultdict(list)  # asset id -> [(ts, value)]
    for spec, ts, inst, acc in stream_readings([p.spec for p in specs], first - max_gap, end + max_gap):
        p = by_id[spec.asset_id]
        props = spec.energy_properties if p.from_energy else spec.instantaneous_properties
        value = property_sum(acc if p.from_energy else inst, props)
        if value is not None:
            points[spec.asset_id].append((ts, value * p.scale))
    totals: dict[datetime, float] = defaultdict(float)
    for asset_id, series in points.items():
        p = by_id[asset_id]
        series.sort()
        per_period = _energy_power(series, step, max_gap) if p.from_energy else _mean_power(series, step)
        for period, kw in per_period.items():
            totals[period] += p.sign * kw
    return sorted((period, kw) for period, kw in totals.items() if first <= period < end)


def _energy_power(series, step, max_gap) -> dict[datetime, float]:
    wh, seconds = defaultdict(float), defaultdict(float)
    for (t0, v0), (t1, v1) in zip(series, series[1:], strict=False):
        if t1 - t0 > max_gap or v1 < v0 or t1 == t0:
            continue
        period = t0 - (t0 - EPOCH) % step
        while period < t1:
            overlap = (min(t1, period + step) - max(t0, period)).total_seconds()
            wh[period] += (v1 - v0) * overlap / (t1 - t0).total_seconds()
            seconds[period] += overlap
            period += step
    return {period: wh[period] * 3.6 / seconds[period] for period in wh if seconds[period] > 0}


def _mean_power(series, step) -> dict[datetime, float]:
    values = defaultdict(list)
    for ts, value in series:
        values[ts - (ts - EPOCH) % step].append(value)
    return {period: sum(v) / len(v) for period, v in values.items()}
