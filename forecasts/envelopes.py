"""Pure schedule logic: capacity blocks in, operating-envelope pieces out. No database here.

The vocabulary of received blocks (their phase and unit codes) is translated at the top of this
module; everything after ``block_limit`` speaks only of import/export limits in kW or amps per
phase, the reason in force and the source they came from.

Rules
- Per source kind, a newer source replaces older ones wherever their blocks overlap (all phases
  of the older source give way over that time); where the newer one has no block, older ones
  still apply.
- Energy over a block is its average power: Wh over 15 min × 4 = W; kWh over 1 h = kW. W → kW;
  amps stay amps with their phase. A negative capacity counts by its size: the direction comes
  from the kind of source, not the sign.
- When the partner that sends limits goes quiet at ``offline_since``, the blocks in force at that
  instant keep applying until they end ("cut-over"), then the fallback sources apply.
"""

import itertools
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from groups.choices import Phase

from .choices import BlockUnit, EnvelopeReason, EnvelopeUnit, PhaseIndicator

SIX_PLACES = Decimal("0.000001")

PHASES = {
    PhaseIndicator.ALL: Phase.ALL,
    PhaseIndicator.ONE: Phase.A,
    PhaseIndicator.TWO: Phase.B,
    PhaseIndicator.THREE: Phase.C,
    PhaseIndicator.UNKNOWN: Phase.UNKNOWN,
}


# Named tuples rather than frozen dataclasses: a forecast makes about a hundred of each, and a
# frozen dataclass costs several times as much to build.
class Block(NamedTuple):
    capacity: Decimal
    phase: str
    unit: str
    start: datetime
    end: datetime


class Limit(NamedTuple):
    phase: str
    unit: str
    value: Decimal


def block_limit(block: Block) -> Limit:
    """The limit a block sets: average power in kW (per phase), or amps as amps."""
    size = abs(Decimal(block.capacity))
    if block.unit == BlockUnit.KW:
        unit, value = EnvelopeUnit.KW, size
    elif block.unit == BlockUnit.A:
        unit, value = EnvelopeUnit.A, size
    elif block.unit == BlockUnit.W:
        unit, value = EnvelopeUnit.KW, size / 1000
    elif block.unit in (BlockUnit.KWH, BlockUnit.WH):
        hours = Decimal((block.end - block.start).total_seconds()) / Decimal(3600)
        value = size / hours if block.unit == BlockUnit.KWH else size / hours / 1000
        unit = EnvelopeUnit.KW
    else:
        raise ValueError(f"unknown block unit {block.unit!r}")
    return Limit(PHASES[block.phase], unit, value.quantize(SIX_PLACES))


@dataclass
class Source:
    """One received schedule (a forecast) as the schedule logic sees it."""

    id: int | None
    received_at: datetime
    blocks: list[Block] = field(default_factory=list)
    all_zero: bool = False

    @property
    def order(self):
        return (self.received_at, self.id or 0)


class Piece(NamedTuple):
    """One limit over [start, end)."""

    start: datetime
    end: datetime
    phase: str
    unit: str
    value: Decimal
    reason: str
    source_id: int | None = None
    rule: str = ""


def _layer(sources: list[Source], start: datetime, end: datetime) -> list[tuple[datetime, datetime, Source, list]]:
    """Newest-wins layering over [start, end): the intervals, each with the winning source and
    that source's blocks covering it."""
    if start >= end:
        return []
    if len(sources) == 1:
        blocks = [b for b in sources[0].blocks if b.end > start and b.start < end]
        if all(a.end <= b.start for a, b in itertools.pairwise(blocks)):
            # One schedule whose blocks follow each other without overlapping (what partners
            # send): each block is an interval of its own, clipped to the range.
            return [(max(b.start, start), min(b.end, end), sources[0], [b]) for b in blocks]
    bounds = {start, end}
    for source in sources:
        for block in source.blocks:
            if block.end > start and block.start < end:
                bounds.add(max(block.start, start))
                bounds.add(min(block.end, end))
    bounds = sorted(bounds)
    winners: list[Source | None] = [None] * (len(bounds) - 1)
    covering: list[list[Block]] = [[] for _ in winners]
    for source in sorted(sources, key=lambda s: s.order):
        for block in source.blocks:
            if block.end <= start or block.start >= end:
                continue
            first = bisect_left(bounds, max(block.start, start))
            last = bisect_left(bounds, min(block.end, end))
            for index in range(first, last):
                if winners[index] is not source:
                    winners[index] = source
                    covering[index] = []
                covering[index].append(block)
    return [(bounds[i], bounds[i + 1], winners[i], covering[i]) for i in range(len(winners)) if winners[i] is not None]


def _pieces(layer, reason_of) -> list[Piece]:
    """Limits per interval and phase, adjacent equal limits merged."""
    pieces: list[Piece] = []
    open_by_key: dict[tuple, int] = {}
    for start, end, source, blocks in layer:
        if len(blocks) == 1:
            phase, unit, value = block_limit(blocks[0])
            limited = [((phase, unit), value)]
        else:
            limits: dict[tuple[str, str], Decimal] = {}
            for block in blocks:
                phase, unit, value = block_limit(block)
                # Two blocks of one source for the same phase and time: the stricter one holds.
                limits[phase, unit] = min(limits.get((phase, unit), value), value)
            limited = sorted(limits.items())
        reason = reason_of(source)
        for key, value in limited:
            phase, unit = key
            previous = pieces[open_by_key[key]] if key in open_by_key else None
            if (
                previous
                and previous.end == start
                and previous.value == value
                and previous.source_id == source.id
                and previous.reason == reason
            ):
                pieces[open_by_key[key]] = Piece(previous.start, end, phase, unit, value, reason, source.id)
            else:
                open_by_key[key] = len(pieces)
                pieces.append(Piece(start, end, phase, unit, value, reason, source.id))
    return pieces


def in_force_blocks(sources: list[Source], at: datetime) -> tuple[Source | None, list[Block]]:
    """The newest source with a block covering ``at``, and its blocks covering ``at``."""
    for source in sorted(sources, key=lambda s: s.order, reverse=True):
        blocks = [b for b in source.blocks if b.start <= at < b.end]
        if blocks:
            return source, blocks
    return None, []


def schedule_pieces(
    *,
    sources: list[Source],
    fallback_sources: list[Source],
    start: datetime,
    end: datetime,
    offline_since: datetime | None = None,
    stop_on_all_zero: bool = False,
) -> list[Piece]:
    """The limits of one quantity over [start, end).

    ``sources`` are the normal schedules (newest wins); ``fallback_sources`` apply once the sender
    has been offline since ``offline_since`` and the blocks in force at that instant have ended.
    With ``stop_on_all_zero``, limits from an all-zero source carry the protective-stop reason."""

    def normal_reason(source: Source) -> str:
        if stop_on_all_zero and source.all_zero:
            return EnvelopeReason.PROTECTIVE_STOP
        return EnvelopeReason.FORECAST

    if offline_since is None:
        return _pieces(_layer(sources, start, end), normal_reason)

    pieces = _pieces(_layer(sources, start, min(end, offline_since)), normal_reason)
    carried_source, carried = in_force_blocks(sources, offline_since)
    cutover = min((b.end for b in carried), default=offline_since)
    if carried and max(start, offline_since) < min(end, cutover):
        carried_layer = [(max(start, offline_since), min(end, cutover), carried_source, carried)]
        pieces += _pieces(carried_layer, normal_reason)
    pieces += _pieces(_layer(fallback_sources, max(start, cutover), end), lambda s: EnvelopeReason.FALLBACK)
    return pieces


def gap_pieces(
    covered: list[tuple[datetime, datetime]],
    *,
    start: datetime,
    end: datetime,
    value: Decimal,
    reason: str,
    rule: str,
) -> list[Piece]:
    """kW pieces (all phases) filling the parts of [start, end) no interval in ``covered`` covers."""
    gaps, cursor = [], start
    for covered_start, covered_end in sorted(covered):
        if covered_end <= cursor:
            continue
        if covered_start > cursor:
            gaps.append((cursor, min(covered_start, end)))
        cursor = max(cursor, covered_end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [
        Piece(a, b, Phase.ALL, EnvelopeUnit.KW, Decimal(value).quantize(SIX_PLACES), reason, None, rule)
        for a, b in gaps
        if a < b
    ]
