"""Measurement values of assets over one window, computed from readings.

For each asset and window [start, end):

* instantaneous — the asset's statistic (Average, Minimum, Maximum, Count, Start, End) over the
  readings in the window of the sum of its ``propertyNames`` (datum ``i``), × multiplier;
* energy (Difference) — the accumulating value (datum ``a``) at the window end minus at its start.
  Each edge is read by interpolating between the nearest readings either side within
  ``MEASUREMENTS_EDGE_TOLERANCE_SECONDS`` (one side only when the other is missing). A counter that
  drops has been reset: the difference restarts at the first reading after the drop, and
  ``since`` says from when it counts. With no reading near the start, it counts from the first
  reading in the window; with none near the end, up to the last one in the window.

On PostgreSQL one query scans the readings of all requested assets (jsonb extraction, a window
function for counter drops, filtered aggregates for the edges) and returns a handful of facts per
asset; elsewhere the same facts are gathered in Python. The facts become values in ``_measure``,
shared by both paths.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q

from groups.choices import StatisticType

from .models import Reading

logger = logging.getLogger(__name__)

STREAMS_PER_QUERY = 200


@dataclass(frozen=True)
class AssetSpec:
    """What aggregation needs of an asset (plain data, so benchmarks can build thousands)."""

    asset_id: int
    owner_id: int
    node_id: int
    source_id: str
    instantaneous_properties: tuple[str, ...] = ()
    statistic: str = StatisticType.AVERAGE
    instantaneous_multiplier: float = 1.0
    energy_properties: tuple[str, ...] = ()
    energy_multiplier: float = 1.0

    @classmethod
    def of(cls, asset) -> "AssetSpec":
        """From a ``groups.Asset`` (its ``group`` should be loaded: readings are the group owner's)."""
        inst = asset.instantaneous or {}
        energy = asset.energy or {}
        if energy and energy.get("statisticType", StatisticType.DIFFERENCE) != StatisticType.DIFFERENCE:
            logger.warning("Asset %s: energy statistic %s read as Difference", asset.id, energy.get("statisticType"))
        return cls(
            asset_id=asset.id,
            owner_id=asset.group.owner_id,
            node_id=asset.node_id,
            source_id=asset.source_id,
            instantaneous_properties=tuple(inst.get("propertyNames") or ()),
            statistic=inst.get("statisticType") or StatisticType.AVERAGE,
            instantaneous_multiplier=float(inst.get("multiplier") or 1),
            energy_properties=tuple(energy.get("propertyNames") or ()),
            energy_multiplier=float(energy.get("multiplier") or 1),
        )


@dataclass(frozen=True)
class Measure:
    """One asset's values for a window, multiplier applied; None where there was no data."""

    asset_id: int
    instantaneous: float | None
    energy: float | None
    energy_since: datetime | None  # the difference counts from here (window start, or a reset)


@dataclass
class _Facts:
    i_count: int = 0
    i_avg: float | None = None
    i_min: float | None = None
    i_max: float | None = None
    i_start: float | None = None
    i_end: float | None = None
    # energy: nearest readings at or before (p) / at or after (n) the start (0) and end (1)
    p0_t: datetime | None = None
    p0_v: float | None = None
    n0_t: datetime | None = None
    n0_v: float | None = None
    p1_t: datetime | None = None
    p1_v: float | None = None
    n1_t: datetime | None = None
    n1_v: float | None = None
    # the last reading in (start, end] lower than the one before it
    reset_t: datetime | None = None
    reset_v: float | None = None


def window_measure(
    *, assets: Iterable, start: datetime, end: datetime, tolerance: timedelta | None = None
) -> dict[int, Measure]:
    """Values per asset id for [start, end). ``assets`` are ``groups.Asset`` or ``AssetSpec``.
    Assets without any data in the window are absent from the result."""
    specs = [a if isinstance(a, AssetSpec) else AssetSpec.of(a) for a in assets]
    specs = [s for s in specs if s.instantaneous_properties or s.energy_properties]
    if not specs:
        return {}
    if tolerance is None:
        tolerance = timedelta(seconds=settings.MEASUREMENTS_EDGE_TOLERANCE_SECONDS)
    if connection.vendor == "postgresql":
        facts = _facts_sql(specs, start, end, tolerance)
    else:
        facts = _facts_python(specs, start, end, tolerance)
    result = {}
    for spec in specs:
        measure = _measure(spec, facts.get(spec.asset_id), start, end, tolerance)
        if measure is not None:
            result[spec.asset_id] = measure
    return result


# --- combining facts into values ----------------------------------------------------------------


def _edge(t, p_t, p_v, n_t, n_v, tolerance) -> float | None:
    near_p = p_t is not None and t - p_t <= tolerance
    near_n = n_t is not None and n_t - t <= tolerance
    if near_p and near_n:
        if n_t == p_t or n_v < p_v:  # same reading, or a reset in between: the value before it
            return p_v
        return p_v + (n_v - p_v) * ((t - p_t) / (n_t - p_t))
    if near_p:
        return p_v
    if near_n:
        return n_v
    return None


def _instantaneous(spec: AssetSpec, f: _Facts) -> float | None:
    if not spec.instantaneous_properties or not f.i_count:
        return None
    if spec.statistic == StatisticType.COUNT:
        return float(f.i_count)
    value = {
        StatisticType.AVERAGE: f.i_avg,
        StatisticType.MINIMUM: f.i_min,
        StatisticType.MAXIMUM: f.i_max,
        StatisticType.START: f.i_start,
        StatisticType.END: f.i_end,
    }.get(spec.statistic)
    if value is None:
        logger.warning("Asset %s: unknown instantaneous statistic %r", spec.asset_id, spec.statistic)
        return None
    return value * spec.instantaneous_multiplier


def _energy(spec: AssetSpec, f: _Facts, start, end, tolerance) -> tuple[float | None, datetime | None]:
    if not spec.energy_properties:
        return None, None
    at_end = _edge(end, f.p1_t, f.p1_v, f.n1_t, f.n1_v, tolerance)
    if at_end is None and f.p1_t is not None and f.p1_t >= start:
        at_end = f.p1_v  # nothing near the end: up to the last reading in the window
    if at_end is None:
        return None, None
    base, since = _edge(start, f.p0_t, f.p0_v, f.n0_t, f.n0_v, tolerance), start
    if base is None:
        if f.n0_t is None or f.n0_t >= end:
            return None, None
        base, since = f.n0_v, f.n0_t  # nothing near the start: from the first reading in the window
    if f.reset_t is not None and f.reset_t > since:
        base, since = f.reset_v, f.reset_t
    return (at_end - base) * spec.energy_multiplier, since


def _measure(spec: AssetSpec, facts: _Facts | None, start, end, tolerance) -> Measure | None:
    if facts is None:
        return None
    instantaneous = _instantaneous(spec, facts)
    energy, since = _energy(spec, facts, start, end, tolerance)
    if instantaneous is None and energy is None:
        return None
    return Measure(spec.asset_id, instantaneous, energy, since)


# --- PostgreSQL: one query for all assets ------------------------------------------------------

_FACTS_SQL = """
WITH spec AS (
    SELECT * FROM jsonb_to_recordset(%(spec)s::jsonb)
        AS s(asset_id bigint, owner_id bigint, node_id bigint, source_id text, iprops text[], eprops text[])
),
r AS (
    SELECT s.asset_id, r.ts,
        -- One property (the usual case) without a subquery per row: about twice as fast.
        CASE WHEN r.ts < %(start)s OR r.ts >= %(end)s THEN NULL
            WHEN cardinality(s.iprops) = 1 THEN (r.instantaneous ->> s.iprops[1])::float8
            ELSE (SELECT sum((r.instantaneous ->> p)::float8) FROM unnest(s.iprops) AS p)
        END AS iv,
        CASE WHEN cardinality(s.eprops) = 1 THEN (r.accumulating ->> s.eprops[1])::float8
            ELSE (SELECT sum((r.accumulating ->> p)::float8) FROM unnest(s.eprops) AS p)
        END AS ev
    FROM spec s
    JOIN measurements_reading r
        ON r.owner_id = s.owner_id AND r.node_id = s.node_id AND r.source_id = s.source_id
        AND r.ts >= %(lo)s AND r.ts <= %(hi)s
),
ia AS (
    SELECT asset_id, count(*) AS i_count, avg(iv) AS i_avg, min(iv) AS i_min, max(iv) AS i_max,
        (array_agg(iv ORDER BY ts))[1] AS i_start,
        (array_agg(iv ORDER BY ts DESC))[1] AS i_end
    FROM r WHERE iv IS NOT NULL
    GROUP BY asset_id
),
e AS (
    SELECT asset_id, ts, ev, lag(ev) OVER (PARTITION BY asset_id ORDER BY ts) AS prev_ev
    FROM r WHERE ev IS NOT NULL
),
ea AS (
    SELECT asset_id,
        max(ts) FILTER (WHERE ts <= %(start)s) AS p0_t,
        (array_agg(ev ORDER BY ts DESC) FILTER (WHERE ts <= %(start)s))[1] AS p0_v,
        min(ts) FILTER (WHERE ts >= %(start)s) AS n0_t,
        (array_agg(ev ORDER BY ts) FILTER (WHERE ts >= %(start)s))[1] AS n0_v,
        max(ts) FILTER (WHERE ts <= %(end)s) AS p1_t,
        (array_agg(ev ORDER BY ts DESC) FILTER (WHERE ts <= %(end)s))[1] AS p1_v,
        min(ts) FILTER (WHERE ts >= %(end)s) AS n1_t,
        (array_agg(ev ORDER BY ts) FILTER (WHERE ts >= %(end)s))[1] AS n1_v,
        max(ts) FILTER (WHERE ts > %(start)s AND ts <= %(end)s AND ev < prev_ev) AS reset_t,
        (array_agg(ev ORDER BY ts DESC) FILTER (WHERE ts > %(start)s AND ts <= %(end)s AND ev < prev_ev))[1]
            AS reset_v
    FROM e
    GROUP BY asset_id
)
SELECT coalesce(ia.asset_id, ea.asset_id),
    coalesce(ia.i_count, 0), ia.i_avg, ia.i_min, ia.i_max, ia.i_start, ia.i_end,
    ea.p0_t, ea.p0_v, ea.n0_t, ea.n0_v, ea.p1_t, ea.p1_v, ea.n1_t, ea.n1_v, ea.reset_t, ea.reset_v
FROM ia FULL JOIN ea ON ea.asset_id = ia.asset_id
"""


def _facts_sql(specs: list[AssetSpec], start, end, tolerance) -> dict[int, _Facts]:
    payload = json.dumps(
        [
            {
                "asset_id": s.asset_id,
                "owner_id": s.owner_id,
                "node_id": s.node_id,
                "source_id": s.source_id,
                "iprops": list(s.instantaneous_properties),
                "eprops": list(s.energy_properties),
            }
            for s in specs
        ]
    )
    params = {"spec": payload, "start": start, "end": end, "lo": start - tolerance, "hi": end + tolerance}
    with connection.cursor() as cursor:
        cursor.execute(_FACTS_SQL, params)
        rows = cursor.fetchall()
    return {row[0]: _Facts(*row[1:]) for row in rows}


# --- elsewhere (SQLite): the same facts in Python ----------------------------------------------


def stream_readings(specs, lo: datetime, hi: datetime, *, include_hi: bool = True):
    """(spec, ts, instantaneous, accumulating) for every reading of the specs' streams in
    [lo, hi] (or [lo, hi)), oldest first; a stream shared by several specs yields once per spec."""
    by_stream = defaultdict(list)
    for spec in specs:
        by_stream[(spec.owner_id, spec.node_id, spec.source_id)].append(spec)
    keys = list(by_stream)
    ts_upper = {"ts__lte": hi} if include_hi else {"ts__lt": hi}
    for offset in range(0, len(keys), STREAMS_PER_QUERY):  # SQLite limits expression depth
        streams = Q()
        for owner_id, node_id, source_id in keys[offset : offset + STREAMS_PER_QUERY]:
            streams |= Q(owner_id=owner_id, node_id=node_id, source_id=source_id)
        rows = (
            Reading.objects.filter(streams, ts__gte=lo, **ts_upper)
            .order_by("ts")
            .values_list("owner_id", "node_id", "source_id", "ts", "instantaneous", "accumulating")
        )
        for owner_id, node_id, source_id, ts, inst, acc in rows.iterator():
            for spec in by_stream[(owner_id, node_id, source_id)]:
                yield spec, ts, inst, acc


def _facts_python(specs: list[AssetSpec], start, end, tolerance) -> dict[int, _Facts]:
    series = defaultdict(list)
    for spec, ts, inst, acc in stream_readings(specs, start - tolerance, end + tolerance):
        iv = property_sum(inst, spec.instantaneous_properties) if start <= ts < end else None
        series[spec.asset_id].append((ts, iv, property_sum(acc, spec.energy_properties)))
    return {asset_id: _facts_of(points, start, end) for asset_id, points in series.items()}


def property_sum(values: dict, names: tuple[str, ...]) -> float | None:
    found = [float(values[n]) for n in names if isinstance(values.get(n), (int, float))]
    return sum(found) if found else None


def _facts_of(points: list[tuple], start, end) -> _Facts:
    f = _Facts()
    inst = [iv for _, iv, _ in points if iv is not None]
    if inst:
        f.i_count, f.i_avg, f.i_min, f.i_max = len(inst), sum(inst) / len(inst), min(inst), max(inst)
        f.i_start, f.i_end = inst[0], inst[-1]
    previous = None
    for ts, _, ev in points:
        if ev is None:
            continue
        if ts <= start:
            f.p0_t, f.p0_v = ts, ev
        if ts >= start and f.n0_t is None:
            f.n0_t, f.n0_v = ts, ev
        if ts <= end:
            f.p1_t, f.p1_v = ts, ev
        if ts >= end and f.n1_t is None:
            f.n1_t, f.n1_v = ts, ev
        if previous is not None and start < ts <= end and ev < previous:
            f.reset_t, f.reset_v = ts, ev
        previous = ev
    return f
