"""The aggregates of ``measurements.aggregation`` and ``measurements.power`` written again in
plain Python, straight from their definitions: the oracle the SQL is checked against on every
database the tests run on."""

from collections import defaultdict
from datetime import datetime

from django.db.models import Q

from measurements.aggregation import AssetSpec, _Facts
from measurements.models import Reading
from measurements.power import EPOCH, PowerSpec, SiteSummary

STREAMS_PER_QUERY = 200


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


def facts_python(specs: list[AssetSpec], start, end, tolerance) -> dict[int, _Facts]:
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


def site_python(scaled, lo, start, end) -> SiteSummary:
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
        return SiteSummary(0, None, None, None, None, None)
    return SiteSummary(len(points), sum(points) / len(points), min(points), max(points), points[0], points[-1])


def series_python(specs: list[PowerSpec], first, end, step, max_gap) -> list[tuple[datetime, float]]:
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
