"""Reads on forecasts, operating envelopes and group modes."""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from connections.choices import ConnectionState
from groups.choices import GroupMode, Phase
from groups.models import CapacityGroup
from groups.panels import PANELS
from groups.selectors import forecast_stale
from oscp_platform.api import timestamp_format
from oscp_platform.raw import columns_sql, raw_models

from .choices import EnvelopeReason, EnvelopeUnit, ForecastMessage, ForecastType, Quantity
from .envelopes import Block, Piece, Source, gap_pieces
from .models import Envelope, EnvelopeState, EnvelopeSubscription, Forecast, Instruction, blocks_loaded

# Which received schedules feed which quantity: (normal kinds, fallback kinds).
QUANTITY_TYPES = {
    Quantity.IMPORT: ([ForecastType.CONSUMPTION], [ForecastType.FALLBACK_CONSUMPTION]),
    Quantity.EXPORT: ([ForecastType.GENERATION], [ForecastType.FALLBACK_GENERATION]),
    Quantity.OPTIMUM: ([ForecastType.OPTIMUM], []),
}
TYPE_QUANTITY = {t: q for q, (normal, fallback) in QUANTITY_TYPES.items() for t in normal + fallback}
LIMIT_TYPES = [ForecastType.CONSUMPTION, ForecastType.GENERATION]
FOREVER = datetime.fromisoformat("9999-01-01T00:00:00+00:00")


def fallback_limit(*, group: CapacityGroup, quantity: str) -> tuple[Decimal, str, str]:
    """(value kW, reason, rule) of the limit that applies where no received block does."""
    own = group.fallback_import_kw if quantity == Quantity.IMPORT else group.fallback_export_kw
    if own is not None:
        return Decimal(own), EnvelopeReason.FALLBACK, f"group-fallback-{quantity}"
    default = (
        settings.OSCP_DEFAULT_FALLBACK_IMPORT_KW
        if quantity == Quantity.IMPORT
        else settings.OSCP_DEFAULT_FALLBACK_EXPORT_KW
    )
    return Decimal(str(default)), EnvelopeReason.DEFAULT, f"platform-default-{quantity}"


def forecast_sources(
    *, group: CapacityGroup, types: list[str], ranges: list[tuple[datetime, datetime]]
) -> dict[str, list[Source]]:
    """The group's received schedules of ``types`` with their blocks overlapping ``ranges``,
    by type. Limits count only from the group's Capacity Provider (or staff, sender unset)."""
    result: dict[str, list[Source]] = {t: [] for t in types}
    if not types or not ranges:
        return result
    overlap = Q()
    for start, end in ranges:
        overlap |= Q(starts_at__lt=end, ends_at__gt=start)
    senders = Q(sender__isnull=True) | Q(sender_id=group.capacity_provider_id)
    if ForecastType.OPTIMUM in types:
        senders |= Q(type=ForecastType.OPTIMUM)
    rows = (
        Forecast.objects.filter(overlap, senders, group=group, type__in=types, message_type=ForecastMessage.UPDATE)
        .values_list("id", "type", "received_at", "all_zero", "blocks")
        .order_by()
    )
    for forecast_id, kind, received_at, all_zero, stored in rows:
        blocks = [
            Block(b["capacity"], b["phase"], b["unit"], b["start_time"], b["end_time"])
            for b in blocks_loaded(stored)
            if any(b["end_time"] > start and b["start_time"] < end for start, end in ranges)
        ]
        if blocks:  # a forecast may span a range with none of its blocks in it
            result[kind].append(Source(id=forecast_id, received_at=received_at, all_zero=all_zero, blocks=blocks))
    return result


def provider_offline_since(*, group: CapacityGroup, now: datetime, state: EnvelopeState | None) -> datetime | None:
    """Since when the group's Capacity Provider counts as offline, or None when online.

    Offline: its last ``offline_mode_at`` has passed (unless a newer handshake superseded it), or
    its connection is marked offline. Recovery needs a new handshake and then a new forecast:
    until both have happened the group stays on the offline schedule it was put on."""
    partner = group.capacity_provider
    handshake = partner.handshake_completed_at
    since = None
    if partner.offline_mode_at and partner.offline_mode_at <= now:
        if not (handshake and handshake > partner.offline_mode_at):
            since = partner.offline_mode_at
    if since is None and partner.connection_state == ConnectionState.OFFLINE:
        since = partner.connection_state_changed_at or now
    if state is not None and state.offline_since is not None:
        recovered = (
            handshake is not None
            and handshake >= state.offline_since
            and Forecast.objects.filter(
                group=group,
                sender=partner,
                message_type=ForecastMessage.UPDATE,
                type__in=LIMIT_TYPES,
                received_at__gte=handshake,
            ).exists()
        )
        if not recovered:
            return state.offline_since
    return since


def _piece_of(row: Envelope) -> Piece:
    return Piece(row.start, row.end, row.phase, row.unit, row.value, row.reason, row.forecast_id, row.rule)


def envelope_pieces(*, group: CapacityGroup, start: datetime, end: datetime) -> dict[str, list[Piece]]:
    """Every limit of the group overlapping [start, end), by quantity; times no received block
    covers are filled with the group's fallback or the platform default (import and export)."""
    return envelopes_pieces([(group, start, end)])[0]


def envelopes_pieces(windows: list[tuple[CapacityGroup, datetime, datetime]]) -> list[dict[str, list[Piece]]]:
    """``envelope_pieces`` of each (group, start, end) in ``windows``, in order, from one query."""
    if not windows:
        return []
    groups_by_span: dict[tuple[datetime, datetime], set[int]] = defaultdict(set)
    for group, start, end in windows:  # a batch's windows share a few spans (its periods)
        groups_by_span[start, end].add(group.id)
    overlap = Q()
    for (start, end), group_ids in groups_by_span.items():
        overlap |= Q(group_id__in=group_ids, end__gt=start, start__lt=end)
    rows_by_group: dict[int, list[Envelope]] = defaultdict(list)
    for row in Envelope.objects.filter(overlap).order_by("start", "phase"):
        rows_by_group[row.group_id].append(row)
    results = []
    for group, start, end in windows:
        result: dict[str, list[Piece]] = {q: [] for q in Quantity.values}
        for row in rows_by_group[group.id]:
            if row.end > start and row.start < end:
                result[row.quantity].append(_piece_of(row))
        for quantity in (Quantity.IMPORT, Quantity.EXPORT):
            value, reason, rule = fallback_limit(group=group, quantity=quantity)
            covered = [(p.start, p.end) for p in result[quantity]]
            result[quantity] = sorted(
                result[quantity] + gap_pieces(covered, start=start, end=end, value=value, reason=reason, rule=rule),
                key=lambda p: (p.start, p.phase),
            )
        results.append(result)
    return results


# The rows in force at a time and, per limit quantity, the rows either side of it (the last to
# end before it, the first to start after it: where a gap lies when nothing is in force), in one
# statement of index probes. Written out: the ORM cannot slice the parts of a union on SQLite,
# and building the query costs it several times the query itself.
_IN_FORCE = """
SELECT {columns} FROM forecasts_envelope e WHERE group_id = %(group)s AND start <= %(at)s AND "end" > %(at)s
UNION ALL
SELECT * FROM (
    SELECT {columns} FROM forecasts_envelope e WHERE group_id = %(group)s AND quantity = %(import)s AND "end" <= %(at)s
    ORDER BY "end" DESC LIMIT 1
) AS import_before
UNION ALL
SELECT * FROM (
    SELECT {columns} FROM forecasts_envelope e WHERE group_id = %(group)s AND quantity = %(import)s AND "end" > %(at)s
    AND start > %(at)s ORDER BY start LIMIT 1
) AS import_after
UNION ALL
SELECT * FROM (
    SELECT {columns} FROM forecasts_envelope e WHERE group_id = %(group)s AND quantity = %(export)s AND "end" <= %(at)s
    ORDER BY "end" DESC LIMIT 1
) AS export_before
UNION ALL
SELECT * FROM (
    SELECT {columns} FROM forecasts_envelope e WHERE group_id = %(group)s AND quantity = %(export)s AND "end" > %(at)s
    AND start > %(at)s ORDER BY start LIMIT 1
) AS export_after
""".replace("{columns}", columns_sql(Envelope, "e"))


def envelope_in_force(*, group: CapacityGroup, at: datetime) -> dict:
    """The envelope in force for ``group`` at ``at``: the import and export limits (per phase
    where they are per phase), each with its reason and source; the optimum where one is known.
    Where no row covers ``at``, the fallback applies over the gap between the rows either side."""
    params = {
        "group": group.pk,
        "at": connection.ops.adapt_datetimefield_value(at),
        "import": Quantity.IMPORT.value,
        "export": Quantity.EXPORT.value,
    }
    in_force = {q: [] for q in Quantity.values}
    before: dict[str, datetime] = {}
    after: dict[str, datetime] = {}
    for row in raw_models(Envelope, _IN_FORCE, params):
        if row.start <= at < row.end:
            in_force[row.quantity].append(_piece_of(row))
        elif row.end <= at:
            before[row.quantity] = row.end
        else:
            after[row.quantity] = row.start
    for quantity in (Quantity.IMPORT, Quantity.EXPORT):
        in_force[quantity].sort(key=lambda piece: piece.phase)
        if not in_force[quantity]:
            value, reason, rule = fallback_limit(group=group, quantity=quantity)
            start, end = before.get(quantity, at), after.get(quantity, FOREVER)
            in_force[quantity] = gap_pieces([], start=start, end=end, value=value, reason=reason, rule=rule)
    in_force[Quantity.OPTIMUM].sort(key=lambda piece: piece.phase)
    limits = in_force[Quantity.IMPORT] + in_force[Quantity.EXPORT]
    start = max(p.start for p in limits)
    end = min(p.end for p in limits)
    return {
        "groupId": group.id,
        "microgridId": group.microgrid_id,
        "nodeId": group.node_id,
        "at": timestamp_format(at),
        "mode": group.mode,
        "modeSince": timestamp_format(group.mode_since),
        "reason": in_force[Quantity.IMPORT][0].reason,
        "start": timestamp_format(start),
        "end": timestamp_format(end) if end != FOREVER else None,
        "importLimits": [limit_dict(p) for p in in_force[Quantity.IMPORT]],
        "exportLimits": [limit_dict(p) for p in in_force[Quantity.EXPORT]],
        "optimum": [limit_dict(p) for p in in_force[Quantity.OPTIMUM]],
    }


def limit_dict(piece: Piece, quantity: str | None = None) -> dict:
    data = {
        "phase": piece.phase,
        "unit": piece.unit,
        "value": float(piece.value),
        "reason": piece.reason,
        "start": timestamp_format(piece.start),
        "end": timestamp_format(piece.end) if piece.end != FOREVER else None,
        "forecastId": piece.source_id,
        "rule": piece.rule,
    }
    if quantity:
        data = {"quantity": quantity, **data}
    return data


def in_force_signature(envelope: dict) -> list:
    """What makes two envelopes in force 'the same' for subscribers: the mode and each limit's
    value and reason (not the forecast it came from: a re-sent identical limit is no change)."""
    return [envelope.get("mode")] + [
        [key, item["phase"], item["unit"], item["value"], item["reason"]]
        for key in ("importLimits", "exportLimits")
        for item in envelope.get(key, [])
    ]


def mode_decide(*, envelope: dict, offline_since: datetime | None, provider_name: str) -> tuple[str, str]:
    """(mode, reason) of a group given its envelope in force."""
    if offline_since is not None:
        return GroupMode.PARTNER_OFFLINE, f"{provider_name} offline since {timestamp_format(offline_since)}"
    imports = envelope["importLimits"]
    if imports and all(item["reason"] == EnvelopeReason.PROTECTIVE_STOP for item in imports):
        return GroupMode.PROTECTIVE_STOP, f"all-zero profile in force (forecast {imports[0]['forecastId']})"
    received = [
        item
        for item in envelope["importLimits"] + envelope["exportLimits"]
        if item["reason"] in (EnvelopeReason.FORECAST, EnvelopeReason.PROTECTIVE_STOP)
    ]
    if received:
        return GroupMode.NORMAL, "a received block covers now"
    return GroupMode.FORECAST_GAP, "no received block covers now"


def groups_last_forecast_annotate(groups: QuerySet[CapacityGroup]) -> QuerySet[CapacityGroup]:
    """On each group: ``last_forecast_at``, when its provider last sent a forecast for it, and
    ``forecast_until``, how far ahead that forecast reaches (subqueries, for lists;
    ``groups.selectors.forecast_stale`` reads them)."""
    last = Forecast.objects.filter(
        group=OuterRef("pk"), sender_id=OuterRef("capacity_provider_id"), message_type=ForecastMessage.UPDATE
    ).order_by("-received_at", "-id")
    return groups.annotate(
        last_forecast_at=Subquery(last.values("received_at")[:1]),
        forecast_until=Subquery(last.values("ends_at")[:1]),
    )


def group_forecast_stale(*, group: CapacityGroup, now: datetime) -> bool | None:
    """``groups.selectors.forecast_stale`` of one group (the admin's operating view)."""
    annotated = groups_last_forecast_annotate(CapacityGroup.objects.select_related("capacity_provider")).get(
        pk=group.pk
    )
    return forecast_stale(annotated, now=now)


def forecast_in_force(*, group: CapacityGroup, at: datetime) -> Forecast | None:
    """The forecast behind the group's import limit at ``at`` (else its export limit)."""
    row = (
        Envelope.objects.filter(group=group, quantity__in=[Quantity.IMPORT, Quantity.EXPORT], start__lte=at, end__gt=at)
        .exclude(forecast=None)
        .order_by("-quantity")
        .select_related("forecast")
        .first()
    )
    return row.forecast if row else None


def group_for_correlation(*, partner, correlation_id: str) -> CapacityGroup | None:
    """The group of the forecast whose request id is ``correlation_id``, among the partner's groups."""
    forecast = (
        Forecast.objects.select_related("group__capacity_provider")
        .filter(request_id=correlation_id)
        .filter(Q(group__capacity_provider=partner) | Q(group__capacity_optimizer=partner))
        .order_by("-received_at")
        .first()
    )
    return forecast.group if forecast else None


def subscription_list(*, user) -> QuerySet[EnvelopeSubscription]:
    """The envelope webhook subscriptions of ``user``'s groups."""
    return EnvelopeSubscription.objects.filter(group__owner=user)


def instruction_list(*, user) -> QuerySet[Instruction]:
    """The instructions ``user``'s account gave."""
    return Instruction.objects.filter(owner=user)


# --- The admin dashboard: a few aggregate queries, never one per group ---------------------------


def groups_by_mode() -> dict[str, int]:
    """How many enabled groups are in each mode (one query)."""
    rows = CapacityGroup.objects.filter(enabled=True).values("mode").annotate(count=Count("id")).order_by()
    return {row["mode"]: row["count"] for row in rows}


def groups_needing_attention(*, now: datetime, limit: int = 8) -> list[CapacityGroup]:
    """Enabled groups not in normal mode, the latest change first, each with the import limit in
    force (``limit_kw`` and ``limit_reason``: the fallback or platform default where no envelope
    row covers now), in one query."""
    in_force = Envelope.objects.filter(
        group=OuterRef("pk"),
        quantity=Quantity.IMPORT,
        phase=Phase.ALL,
        unit=EnvelopeUnit.KW,
        start__lte=now,
        end__gt=now,
    ).order_by("-start")
    groups = list(
        CapacityGroup.objects.filter(enabled=True)
        .exclude(mode=GroupMode.NORMAL)
        .select_related("capacity_provider")
        .annotate(limit_kw=Subquery(in_force.values("value")[:1]), limit_reason=Subquery(in_force.values("reason")[:1]))
        .order_by(F("mode_since").desc(nulls_last=True), "id")[:limit]
    )
    for group in groups:
        if group.limit_kw is None:
            group.limit_kw, group.limit_reason, _rule = fallback_limit(group=group, quantity=Quantity.IMPORT)
    return groups


# --- A group's limits and measured power over time (the admin chart and the management API) ------
CHART_REASONS = {
    EnvelopeReason.FORECAST: "forecast",
    EnvelopeReason.PROTECTIVE_STOP: "forecast",
    EnvelopeReason.FALLBACK: "fallback",
    EnvelopeReason.DEFAULT: "fallback",
}


def kw(value) -> float:
    """A power for display and JSON: kW, three decimals at most (never -0)."""
    return round(float(value), 3) + 0.0


def group_power_chart(*, group: CapacityGroup, start: datetime, end: datetime, now: datetime) -> dict:
    """A group's import and export limits (kW for all phases; import positive, export negative)
    and its measured power over [start, end), in the management API's shape. Limits start when the
    group was created: before then it had none, not a fallback. Measured power (its meters may be
    older than the group) comes from the app that measures it (``groups.panels.PANELS.power_series``),
    up to ``now``."""
    since = max(start, group.created)
    limits = []
    if since < end:
        pieces = envelope_pieces(group=group, start=since, end=end)
        for quantity, sign in ((Quantity.IMPORT, 1), (Quantity.EXPORT, -1)):
            for piece in pieces[quantity]:
                if piece.unit != EnvelopeUnit.KW or piece.phase != Phase.ALL:
                    continue
                limits.append(
                    {
                        "quantity": quantity,
                        "source": CHART_REASONS[piece.reason],
                        "reason": piece.reason,
                        "start": timestamp_format(max(piece.start, since)),
                        "end": timestamp_format(min(piece.end, end)),
                        "value": kw(sign * piece.value),
                        "forecastId": piece.source_id,
                    }
                )
    measured = []
    if PANELS.power_series is not None and start < min(end, now):
        measured = [
            {"time": timestamp_format(t), "value": kw(v)}
            for t, v in PANELS.power_series(group=group, start=start, end=min(end, now))
        ]
    return {
        "groupId": group.id,
        "unit": "kW",
        "timeZone": settings.TIME_ZONE,
        "from": timestamp_format(start),
        "to": timestamp_format(end),
        "now": timestamp_format(now),
        "groupCreated": timestamp_format(group.created),
        "limits": limits,
        "measured": measured,
    }
