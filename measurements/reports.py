"""Measurement reports: which windows are due, and the OSCP message bodies for many groups,
audiences and windows at once (``reports_build``: one aggregation query for all of them, one more
for the combined assets' site power). Everything here only reads; ``services`` writes cursors and
the outbox.

Wire shapes (``/work/shared/oscp-2.0.md``):

* ``update_group_measurements`` — the energy of the group's assets for the audience, summed per
  phase, direction and energy type;
* ``update_asset_measurements`` — one entry per asset with ``energy_measurement`` and
  ``instantaneous_measurement``; or, when the group or partner names a combined asset, a single
  entry for all assets: energy summed; instantaneous in W/kW (assets in A are left out), the
  statistic of the summed site power where it does not add up (Maximum, Minimum, Start, End, Count;
  see ``power.sites_summary``), else the sum of the assets' values.
"""

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connections.choices import MeasurementMessage, MessageType
from connections.oscp.serializers import wire_time
from groups.choices import (
    PERIOD_SECONDS,
    AssetCategory,
    Audience,
    EnergyDirection,
    EnergyType,
    MeasurementUnit,
    Phase,
    StatisticType,
)

from .aggregation import Measure, windows_measure
from .power import NOT_ADDITIVE, sites_summary
from .selectors import report_assets

logger = logging.getLogger(__name__)

GROUP_MESSAGE = MessageType.UPDATE_GROUP_MEASUREMENTS
ASSET_MESSAGE = MessageType.UPDATE_ASSET_MEASUREMENTS

PHASE_WIRE = {Phase.UNKNOWN: "UNKNOWN", Phase.A: "ONE", Phase.B: "TWO", Phase.C: "THREE", Phase.ALL: "ALL"}
CATEGORY_WIRE = {c.value: c.value.upper() for c in AssetCategory}
DIRECTION_WIRE = {EnergyDirection.NET: "NET", EnergyDirection.IMPORT: "IMPORT", EnergyDirection.EXPORT: "EXPORT"}
ENERGY_TYPE_WIRE = {EnergyType.TOTAL: "TOTAL", EnergyType.FLEXIBLE: "FLEXIBLE", EnergyType.NON_FLEXIBLE: "NONFLEXIBLE"}
UNIT_WIRE = {
    MeasurementUnit.A: "A",
    MeasurementUnit.W: "W",
    MeasurementUnit.KW: "KW",
    MeasurementUnit.WH: "WH",
    MeasurementUnit.KWH: "KWH",
}
ENERGY_WH = {MeasurementUnit.WH: 1.0, MeasurementUnit.KWH: 1000.0}
POWER_W = {MeasurementUnit.W: 1.0, MeasurementUnit.KW: 1000.0}
SIGN = {EnergyDirection.IMPORT: 1.0, EnergyDirection.EXPORT: -1.0, EnergyDirection.NET: 1.0}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- periods ------------------------------------------------------------------------------------


def period_delta(period: str) -> timedelta:
    return timedelta(seconds=PERIOD_SECONDS[period])


def align_down(ts: datetime, step: timedelta) -> datetime:
    """Every period divides an hour, so aligning to the epoch aligns to the hour."""
    return ts - (ts - EPOCH) % step


def align_up(ts: datetime, step: timedelta) -> datetime:
    rest = (ts - EPOCH) % step
    return ts + (step - rest) if rest else ts


def window_of(*, period: str, start: datetime) -> tuple[datetime, datetime]:
    step = period_delta(period)
    if align_down(start, step) != start:
        raise ValueError(f"not aligned to the {period} period")
    return start, start + step


def period_windows_closed(
    *, period: str, after: datetime, now: datetime, limit: int | None = None
) -> list[tuple[datetime, datetime]]:
    """Aligned windows starting at or after ``after`` that closed by ``now``, oldest first; with
    ``limit``, only the newest ``limit`` of them."""
    step = period_delta(period)
    first = align_up(after, step)
    count = max(0, (align_down(now, step) - first) // step)
    skip = count - limit if limit is not None and count > limit else 0
    return [(first + k * step, first + (k + 1) * step) for k in range(skip, count)]


def audience_partner(group, audience: str):
    return group.capacity_provider if audience == Audience.CAPACITY_PROVIDER else group.capacity_optimizer


def audience_partner_id(group, audience: str) -> int | None:
    return group.capacity_provider_id if audience == Audience.CAPACITY_PROVIDER else group.capacity_optimizer_id


def audience_period(group, audience: str) -> str:
    if audience == Audience.CAPACITY_PROVIDER:
        return group.capacity_provider_measurement_period
    return group.capacity_optimizer_measurement_period


# --- message bodies -----------------------------------------------------------------------------


def _number(value: float) -> float:
    return round(value, 6) + 0.0  # no -0.0 on the wire


@dataclass(frozen=True)
class Report:
    """What to send for one window (``body`` None: nothing to send, ``detail`` says why)."""

    message_type: str
    body: dict | None
    detail: str
    energy_wh: float | None  # signed sum (import positive) of the assets' energy, for compliance
    no_data: bool = False  # nothing sent because there were no readings (rather than nothing to report)

    @property
    def entries(self) -> int:
        return len(self.body["measurements"]) if self.body else 0


@dataclass(frozen=True)
class ReportJob:
    """One report to build: ``group``'s enabled ``assets`` of ``audience`` over [start, end), for ``partner``."""

    group: object
    audience: str
    partner: object
    assets: list
    start: datetime
    end: datetime

    @property
    def combined_id(self) -> str:
        # One reported asset per group (Vector DERMS): the group's assets combined into one named by the group.
        group, partner = self.group, self.partner
        by_group = group.identifier if partner.one_asset_per_group else ""
        return group.combined_asset_id or partner.combined_asset_id or by_group

    @property
    def asset_message(self) -> bool:
        return self.partner.measurement_message == MeasurementMessage.ASSET


def reports_build(jobs: list[ReportJob]) -> list[Report]:
    """The message of each job, in order: one aggregation query for every asset and window of
    all jobs, and one more for the summed site power of the combined assets that need it."""
    found = windows_measure(items=[(asset, job.start, job.end) for job in jobs for asset in job.assets])
    measures = [_measures_of(job, found) for job in jobs]
    needs = {}
    for index, job in enumerate(jobs):
        need = _site_need(job, measures[index])
        if need is not None:
            needs[index] = need
    summaries = sites_summary(sites=[(scaled, jobs[i].start, jobs[i].end) for i, (scaled, _) in needs.items()])
    sites = {}
    for n, (index, (_, statistic)) in enumerate(needs.items()):
        summary = summaries.get(n)
        sites[index] = summary.statistic(statistic) if summary is not None else None
    return [_report(job, measures[index], sites.get(index)) for index, job in enumerate(jobs)]


def report_build(*, group, audience: str, partner, start: datetime, end: datetime) -> Report:
    """The message to ``partner`` for ``group``'s assets of ``audience`` over [start, end)."""
    assets = report_assets(group=group, audience=audience)
    return reports_build([ReportJob(group, audience, partner, assets, start, end)])[0]


def _measures_of(job: ReportJob, found: dict) -> dict:
    measures = {a.id: found[(a.id, job.start)] for a in job.assets if (a.id, job.start) in found}
    if job.group.report_zero_when_no_data:
        measures = {a.id: _zero_filled(a, measures.get(a.id), job.start) for a in job.assets}
    return measures


def _report(job: ReportJob, measures: dict, site_watts: float | None) -> Report:
    group, partner, assets, end = job.group, job.partner, job.assets, job.end
    message_type = ASSET_MESSAGE if job.asset_message else GROUP_MESSAGE
    if not assets:
        return Report(message_type, None, "No enabled assets for this audience.", None)
    if not measures:
        if partner.send_empty_measurements:
            return Report(message_type, _empty(group), "No readings in the period; sent empty.", None)
        return Report(message_type, None, "No readings in the period.", None, no_data=True)
    energies = _energies(assets, measures)
    energy_wh = sum(SIGN.get(a.energy.get("direction"), 1.0) * wh for a, wh, _ in energies) if energies else None
    if not job.asset_message:
        entries = _group_entries(energies, end)
    elif job.combined_id:
        entries = _combined_entries(job.combined_id, assets, measures, energies, end, site_watts)
    else:
        entries = _asset_entries(assets, measures, end)
    if not entries:
        if partner.send_empty_measurements:
            return Report(message_type, _empty(group), "No reportable values in the period; sent empty.", energy_wh)
        return Report(message_type, None, "No reportable values in the period.", energy_wh)
    body = {"group_id": group.identifier, "measurements": entries}
    return Report(message_type, body, f"{len(entries)} measurement(s).", energy_wh)


def _empty(group) -> dict:
    """A report without measurements, for partners that want one every period (``send_empty_measurements``)."""
    return {"group_id": group.identifier, "measurements": []}


def _zero_filled(asset, measure: Measure | None, start) -> Measure:
    inst = measure.instantaneous if measure else None
    energy, since = (measure.energy, measure.energy_since) if measure else (None, None)
    if inst is None and asset.instantaneous:
        inst = 0.0
    if energy is None and asset.energy:
        energy, since = 0.0, start
    return Measure(asset.id, inst, energy, since)


def _energies(assets, measures) -> list[tuple]:
    """(asset, value in Wh, since) for assets with an energy value in a convertible unit."""
    found = []
    for asset in assets:
        measure = measures.get(asset.id)
        if measure is None or measure.energy is None:
            continue
        unit = asset.energy.get("unit")
        if unit not in ENERGY_WH:
            logger.warning("Asset %s: energy unit %r is not Wh or kWh; left out", asset.id, unit)
            continue
        found.append((asset, measure.energy * ENERGY_WH[unit], measure.energy_since))
    return found


def _energy_unit(units: set[str]) -> str:
    return units.pop() if len(units) == 1 else MeasurementUnit.KWH


def _energy_entry(*, wh, unit, phase, direction, energy_type, since, end) -> dict:
    return {
        "value": _number(wh / ENERGY_WH[unit]),
        "phase": PHASE_WIRE.get(phase, "UNKNOWN"),
        "unit": UNIT_WIRE[unit],
        "direction": DIRECTION_WIRE.get(direction, "IMPORT"),
        "energy_type": ENERGY_TYPE_WIRE.get(energy_type, "TOTAL"),
        "measure_time": wire_time(end),
        "initial_measure_time": wire_time(since),
    }


def _group_entries(energies, end) -> list[dict]:
    buckets = defaultdict(list)
    for asset, wh, since in energies:
        key = (asset.phase, asset.energy.get("direction"), asset.energy.get("type"))
        buckets[key].append((asset.energy["unit"], wh, since))
    return [
        _energy_entry(
            wh=sum(wh for _, wh, _ in items),
            unit=_energy_unit({u for u, _, _ in items}),
            phase=phase,
            direction=direction,
            energy_type=energy_type,
            since=min(s for _, _, s in items),
            end=end,
        )
        for (phase, direction, energy_type), items in buckets.items()
    ]


def _asset_entries(assets, measures, end) -> list[dict]:
    energy_by_asset = {a.id: (wh, since) for a, wh, since in _energies(assets, measures)}
    entries = []
    for asset in assets:
        measure = measures.get(asset.id)
        if measure is None:
            continue
        entry = {"asset_id": asset.identifier, "asset_category": CATEGORY_WIRE.get(asset.category, "CHARGING")}
        if asset.id in energy_by_asset:
            wh, since = energy_by_asset[asset.id]
            unit = asset.energy["unit"]
            entry["energy_measurement"] = _energy_entry(
                wh=wh,
                unit=unit,
                phase=asset.phase,
                direction=asset.energy.get("direction"),
                energy_type=asset.energy.get("type"),
                since=since,
                end=end,
            )
        unit = (asset.instantaneous or {}).get("unit")
        if measure.instantaneous is not None and unit in UNIT_WIRE:
            entry["instantaneous_measurement"] = {
                "value": _number(measure.instantaneous),
                "phase": PHASE_WIRE.get(asset.phase, "UNKNOWN"),
                "unit": UNIT_WIRE[unit],
                "measure_time": wire_time(end),
            }
        if len(entry) > 2:
            entries.append(entry)
    return entries


def _powered(assets, measures, *, warn: bool = False) -> list:
    """The assets whose instantaneous value counts in a combined asset's (W or kW)."""
    powered = []
    for asset in assets:
        measure = measures.get(asset.id)
        if measure is None or measure.instantaneous is None:
            continue
        if asset.instantaneous.get("unit") not in POWER_W:
            if warn:
                logger.warning(
                    "Asset %s: instantaneous unit %r cannot be combined as W/kW; left out",
                    asset.id,
                    asset.instantaneous.get("unit"),
                )
            continue
        powered.append(asset)
    return powered


def _site_need(job: ReportJob, measures: dict) -> tuple[list, str] | None:
    """For a combined asset whose statistic does not add up (Maximum, Minimum, Start, End, Count),
    the (asset, scale to W) pairs and the statistic of the summed site power it reports."""
    if not (job.asset_message and job.combined_id and measures):
        return None
    powered = _powered(job.assets, measures)
    if not powered:
        return None
    statistic = _uniform((a.instantaneous.get("statisticType") or StatisticType.AVERAGE for a in powered), None)
    if statistic not in NOT_ADDITIVE:
        return None
    return [(a, POWER_W[a.instantaneous["unit"]]) for a in powered], statistic


def _combined_entries(combined_id, assets, measures, energies, end, site_watts: float | None) -> list[dict]:
    """One entry for all assets: energy summed; instantaneous in W/kW, the statistic of the summed
    site power where the statistic does not add up (``site_watts``, from ``_site_need``), else
    the sum of the assets' own values."""
    category = Counter(a.category for a in assets).most_common(1)[0][0]
    entry = {"asset_id": combined_id, "asset_category": CATEGORY_WIRE.get(category, "CHARGING")}
    phase = _uniform((a.phase for a in assets), Phase.ALL)
    if energies:
        direction = _uniform((a.energy.get("direction") for a, _, _ in energies), EnergyDirection.NET)
        # One direction: a plain sum. Mixed: net, import positive and export negative.
        net = direction == EnergyDirection.NET
        wh = sum(SIGN.get(a.energy.get("direction"), 1.0) * v if net else v for a, v, _ in energies)
        entry["energy_measurement"] = _energy_entry(
            wh=wh,
            unit=_energy_unit({a.energy["unit"] for a, _, _ in energies}),
            phase=phase,
            direction=direction,
            energy_type=_uniform((a.energy.get("type") for a, _, _ in energies), EnergyType.TOTAL),
            since=min(s for _, _, s in energies),
            end=end,
        )
    powered = _powered(assets, measures, warn=True)
    if powered:
        watts = sum(measures[a.id].instantaneous * POWER_W[a.instantaneous["unit"]] for a in powered)
        if site_watts is not None:
            watts = site_watts
        unit = _uniform((a.instantaneous["unit"] for a in powered), MeasurementUnit.W)
        entry["instantaneous_measurement"] = {
            "value": _number(watts / POWER_W[unit]),
            "phase": PHASE_WIRE.get(phase, "UNKNOWN"),
            "unit": UNIT_WIRE[unit],
            "measure_time": wire_time(end),
        }
    return [entry] if len(entry) > 2 else []


def _uniform(values, default):
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else default
