"""Measurement values of assets over windows, computed from readings.

For each asset and window [start, end):

* instantaneous — the asset's statistic (Average, Minimum, Maximum, Count, Start, End) over the
  readings in the window of the sum of its ``propertyNames`` (datum ``i``), × multiplier;
* energy (Difference) — the accumulating value (datum ``a``) at the window end minus at its start.
  Each edge is read by interpolating between the nearest readings either side within
  ``MEASUREMENTS_EDGE_TOLERANCE_SECONDS`` (one side only when the other is missing). A counter that
  drops has been reset: the difference restarts at the first reading after the drop, and
  ``since`` says from when it counts. With no reading near the start, it counts from the first
  reading in the window; with none near the end, up to the last one in the window.

One query (``_FACTS_SQL``, the same text on PostgreSQL and SQLite) scans the readings of every
requested asset and window at once (JSON extraction, window functions for neighbours and counter
drops, aggregates for the edges) and returns a handful of facts per asset and window; ``_measure``
turns the facts into values.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from groups.choices import StatisticType

from .sql import db_time, json_key, json_time, py_time, rows_param, rows_sql

logger = logging.getLogger(__name__)


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


def spec_of(asset) -> "AssetSpec":
    return asset if isinstance(asset, AssetSpec) else AssetSpec.of(asset)


def windows_measure(
    *, items: Iterable[tuple], tolerance: timedelta | None = None
) -> dict[tuple[int, datetime], Measure]:
    """Values per (asset id, window start) for each (asset, start, end) of ``items``, in one query.
    Assets are ``groups.Asset`` or ``AssetSpec``; pairs without data are absent."""
    wanted = [(spec_of(asset), start, end) for asset, start, end in items]
    wanted = [item for item in wanted if item[0].instantaneous_properties or item[0].energy_properties]
    if not wanted:
        return {}
    if tolerance is None:
        tolerance = timedelta(seconds=settings.MEASUREMENTS_EDGE_TOLERANCE_SECONDS)
    facts = _facts(wanted, tolerance)
    result = {}
    for k, (spec, start, end) in enumerate(wanted):
        measure = _measure(spec, facts.get(k), start, end, tolerance)
        if measure is not None:
            result[(spec.asset_id, start)] = measure
    return result


def window_measure(
    *, assets: Iterable, start: datetime, end: datetime, tolerance: timedelta | None = None
) -> dict[int, Measure]:
    """Values per asset id for [start, end); assets without any data in the window are absent."""
    found = windows_measure(items=[(asset, start, end) for asset in assets], tolerance=tolerance)
    return {asset_id: measure for (asset_id, _), measure in found.items()}


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


# --- one query for every asset and window --------------------------------------------------------

# Input: the windows (``wk``: start, end, and the readings' range with the edge tolerance), and one
# lane per asset, window and property pair (an asset with several property names has as many
# lanes; their values are summed per reading). ``k`` numbers the (asset, window) pairs.
# The readings are found by stream and time, also bounded by the earliest and latest time of all
# lanes (so PostgreSQL reads one time range of the table rather than guessing per lane). The
# input rows are MATERIALIZED: read once, rather than their JSON parsed again (a time from text)
# wherever the planner would inline a column into the per-reading expressions. Windows
# partitioned by whether a value is present give each reading its neighbours that have one.
# Output: one row of facts per pair (kind 0), and one row per counter reset in (start, end]
# (kind 1: a reading lower than the one before it; the last one counts).
_FACTS_SQL = """
WITH win (wk, w_start, w_end, lo, hi) AS MATERIALIZED ({windows}),
lane (k, wk, owner_id, node_id, source_id, iprop, eprop) AS MATERIALIZED ({lanes}),
v AS (
    SELECT l.k, r.ts, min(w.w_start) AS w_start, min(w.w_end) AS w_end,
        sum(CASE WHEN r.ts >= w.w_start AND r.ts < w.w_end
            THEN CAST(r.instantaneous ->> l.iprop AS DOUBLE PRECISION) END) AS iv,
        sum(CAST(r.accumulating ->> l.eprop AS DOUBLE PRECISION)) AS ev
    FROM lane l
    JOIN win w ON w.wk = l.wk
    JOIN measurements_reading r
        ON r.owner_id = l.owner_id AND r.node_id = l.node_id AND r.source_id = l.source_id
        AND r.ts >= w.lo AND r.ts <= w.hi
    WHERE r.ts >= %s AND r.ts <= %s
    GROUP BY l.k, r.ts
),
w AS (
    SELECT k, ts, w_start, w_end, iv, ev,
        lag(ts) OVER i AS i_prev, lead(ts) OVER i AS i_next,
        lag(ts) OVER e AS prev_t, lead(ts) OVER e AS next_t, lag(ev) OVER e AS prev_v
    FROM v
    WINDOW i AS (PARTITION BY k, iv IS NULL ORDER BY ts), e AS (PARTITION BY k, ev IS NULL ORDER BY ts)
)
SELECT k, 0, count(iv), avg(iv), min(iv), max(iv),
    max(CASE WHEN iv IS NOT NULL AND i_prev IS NULL THEN iv END),
    max(CASE WHEN iv IS NOT NULL AND i_next IS NULL THEN iv END),
    max(CASE WHEN ev IS NOT NULL AND ts <= w_start AND (next_t IS NULL OR next_t > w_start) THEN ts END),
    max(CASE WHEN ev IS NOT NULL AND ts <= w_start AND (next_t IS NULL OR next_t > w_start) THEN ev END),
    max(CASE WHEN ev IS NOT NULL AND ts >= w_start AND (prev_t IS NULL OR prev_t < w_start) THEN ts END),
    max(CASE WHEN ev IS NOT NULL AND ts >= w_start AND (prev_t IS NULL OR prev_t < w_start) THEN ev END),
    max(CASE WHEN ev IS NOT NULL AND ts <= w_end AND (next_t IS NULL OR next_t > w_end) THEN ts END),
    max(CASE WHEN ev IS NOT NULL AND ts <= w_end AND (next_t IS NULL OR next_t > w_end) THEN ev END),
    max(CASE WHEN ev IS NOT NULL AND ts >= w_end AND (prev_t IS NULL OR prev_t < w_end) THEN ts END),
    max(CASE WHEN ev IS NOT NULL AND ts >= w_end AND (prev_t IS NULL OR prev_t < w_end) THEN ev END),
    NULL, NULL
FROM w GROUP BY k
UNION ALL
SELECT k, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, ts, ev
FROM w WHERE ev IS NOT NULL AND ts > w_start AND ts <= w_end AND ev < prev_v
"""
_WINDOW_COLUMNS = [
    ("wk", "INTEGER"),
    *((name, "TIMESTAMP WITH TIME ZONE") for name in ("w_start", "w_end", "lo", "hi")),
]
_LANE_COLUMNS = [("k", "INTEGER"), ("wk", "INTEGER"), ("owner_id", "BIGINT"), ("node_id", "BIGINT")]
_LANE_COLUMNS += [("source_id", "TEXT"), ("iprop", "TEXT"), ("eprop", "TEXT")]
_TIMES = (6, 8, 10, 12, 14)  # the facts that are times


def _lanes(k: int, wk: int, spec: AssetSpec) -> list[list]:
    iprops, eprops = spec.instantaneous_properties, spec.energy_properties
    return [
        [
            k,
            wk,
            spec.owner_id,
            spec.node_id,
            spec.source_id,
            json_key(iprops[n]) if n < len(iprops) else None,
            json_key(eprops[n]) if n < len(eprops) else None,
        ]
        for n in range(max(len(iprops), len(eprops)))
    ]


def _facts(items: list[tuple[AssetSpec, datetime, datetime]], tolerance) -> dict[int, _Facts]:
    """Facts per index into ``items`` (those with readings), in one query."""
    windows: dict[tuple, int] = {}
    lanes = []
    for k, (spec, start, end) in enumerate(items):
        lanes += _lanes(k, windows.setdefault((start, end), len(windows)), spec)
    window_rows = [
        [wk, *(json_time(t) for t in (start, end, start - tolerance, end + tolerance))]
        for (start, end), wk in windows.items()
    ]
    lo = min(start for start, _ in windows) - tolerance
    hi = max(end for _, end in windows) + tolerance
    sql = _FACTS_SQL.format(windows=rows_sql(_WINDOW_COLUMNS), lanes=rows_sql(_LANE_COLUMNS))
    with connection.cursor() as cursor:
        cursor.execute(sql, [rows_param(window_rows), rows_param(lanes), db_time(lo), db_time(hi)])
        rows = cursor.fetchall()
    found, resets = {}, {}
    for k, kind, *values in rows:
        if kind:
            ts = py_time(values[-2])
            if k not in resets or ts > resets[k][0]:
                resets[k] = (ts, values[-1])
            continue
        for index in _TIMES:
            values[index] = py_time(values[index])
        found[k] = _Facts(*values)
    for k, (ts, value) in resets.items():
        found[k].reset_t, found[k].reset_v = ts, value
    return found
