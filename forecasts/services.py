"""Writes on forecasts, operating envelopes, group modes, adjustments and webhook subscriptions.
Compliance errors are in ``forecasts.compliance``."""

import hashlib
import hmac
import json
import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connections.outbox import outbox_enqueue
from groups.models import CapacityGroup
from oscp_platform.bulk import fields_update, insert_columns, instances_insert, rows_insert, rows_sql
from oscp_platform.raw import columns_sql, raw_model

from .choices import AdjustmentStatus, ForecastMessage, ForecastType, Quantity
from .envelopes import Block, Source, schedule_pieces
from .metrics import FORECASTS_RECEIVED
from .models import (
    AdjustmentRequest,
    Envelope,
    EnvelopeState,
    EnvelopeSubscription,
    Forecast,
    blocks_stored,
)
from .oscp.wire import forecast_body
from .selectors import (
    FOREVER,
    QUANTITY_TYPES,
    TYPE_QUANTITY,
    envelope_in_force,
    forecast_sources,
    in_force_signature,
    mode_decide,
    provider_offline_since,
)

logger = logging.getLogger(__name__)

ENVELOPE_CHANGED = "envelope_changed"


# The group's envelope state locked, with what a writer judges under the lock: the group's mode,
# its provider's connection (read again: a handshake may have committed since the request read
# it) and whether anyone subscribes to changes or awaits an answer. One statement, written out:
# the ORM spends several times the query itself building it.
_STATE_LOCK = f"""
SELECT {columns_sql(EnvelopeState, "s")},
       g.mode AS group_mode, g.mode_since AS group_mode_since, g.mode_reason AS group_mode_reason,
       g.capacity_provider_id AS provider_id,
       p.name AS provider_name, p.connection_state AS provider_connection_state,
       p.connection_state_changed_at AS provider_connection_state_changed_at,
       p.offline_mode_at AS provider_offline_mode_at, p.handshake_completed_at AS provider_handshake_completed_at,
       EXISTS (
           SELECT 1 FROM forecasts_envelopesubscription e WHERE e.group_id = s.group_id AND e.enabled
       ) AS subscribed,
       EXISTS (
           SELECT 1 FROM forecasts_adjustmentrequest a WHERE a.group_id = s.group_id AND a.status = %s
       ) AS awaiting
FROM forecasts_envelopestate s
JOIN groups_capacitygroup g ON g.id = s.group_id
JOIN connections_partner p ON p.id = g.capacity_provider_id
WHERE s.group_id = %s
"""
_PROVIDER = CapacityGroup._meta.get_field("capacity_provider")
PROVIDER_STATE_FIELDS = (
    "name",
    "connection_state",
    "connection_state_changed_at",
    "offline_mode_at",
    "handshake_completed_at",
)


def _db_time(value):
    """A time from a written-out query's extra column: SQLite hands those back zone-less (in UTC),
    or as text."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def _state_lock(*, group: CapacityGroup, skip_locked: bool = False) -> EnvelopeState | None:
    """Lock the group's envelope state row (one writer per group at a time), creating it when
    missing; None when ``skip_locked`` and another writer holds it. The group's mode and its
    provider's connection are read again under the lock, in the same statement: a writer that
    read them just before another committed must not record a mode change twice, nor judge on a
    provider that has recovered. ``subscribed`` and ``awaiting`` on the state tell whether the
    group has webhook subscribers and adjustment requests awaiting an answer."""
    sql = _STATE_LOCK
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE OF s SKIP LOCKED" if skip_locked else " FOR UPDATE OF s"
    params = [AdjustmentStatus.AWAITING.value, group.pk]
    state = raw_model(EnvelopeState, sql, params)
    if state is None:
        EnvelopeState.objects.bulk_create([EnvelopeState(group=group)], ignore_conflicts=True)
        state = raw_model(EnvelopeState, sql, params)
    if state is None:
        return None
    group.mode, group.mode_reason = state.group_mode, state.group_mode_reason
    group.mode_since = _db_time(state.group_mode_since)
    if group.capacity_provider_id == state.provider_id and _PROVIDER.is_cached(group):
        provider = group.capacity_provider
        for name in PROVIDER_STATE_FIELDS:
            value = getattr(state, f"provider_{name}")
            setattr(provider, name, _db_time(value) if name.endswith("_at") else value)
    else:
        group.capacity_provider_id = state.provider_id  # another provider: read when used
    state.group = group
    return state


def _merged(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[list[datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _uncovered(window: tuple[datetime, datetime], covered: list[tuple[datetime, datetime]]):
    gaps, cursor = [], window[0]
    for start, end in _merged(covered):
        if start > cursor:
            gaps.append((cursor, min(start, window[1])))
        cursor = max(cursor, end)
    if cursor < window[1]:
        gaps.append((cursor, window[1]))
    return [(a, b) for a, b in gaps if a < b]


def envelopes_rebuild(
    *,
    group: CapacityGroup,
    quantity: str,
    start: datetime,
    end: datetime,
    offline_since: datetime | None,
    newest: Source | None = None,
) -> int:
    """Recompute the group's ``quantity`` rows over [start, end) from the stored forecasts.

    ``newest`` is a just-received schedule known to be the newest of its kind: older ones are then
    only read where it has no block. Rows reaching outside the range are trimmed, not lost."""
    normal_types, fallback_types = QUANTITY_TYPES[quantity]
    window = (start, end)
    if newest is not None and offline_since is None:
        ranges = _uncovered(window, [(b.start, b.end) for b in newest.blocks])
        sources = forecast_sources(group=group, types=normal_types, ranges=ranges)
        normal = [s for t in normal_types for s in sources[t] if s.id != newest.id] + [newest]
        fallback: list[Source] = []
    else:
        sources = forecast_sources(group=group, types=normal_types + fallback_types, ranges=[window])
        normal = [s for t in normal_types for s in sources[t]]
        fallback = [s for t in fallback_types for s in sources[t]]
    pieces = schedule_pieces(
        sources=normal,
        fallback_sources=fallback,
        start=start,
        end=end,
        offline_since=offline_since if quantity != Quantity.OPTIMUM else None,
        stop_on_all_zero=quantity == Quantity.IMPORT,
    )

    _envelopes_replace(group=group, quantity=quantity, start=start, end=end, pieces=pieces)
    return len(pieces)


ENVELOPE_FIELDS = [
    "group_id",
    "microgrid_id",
    "node_id",
    "quantity",
    "phase",
    "unit",
    "value",
    "start",
    "end",
    "reason",
    "forecast_id",
    "rule",
]
# A row whose phase, unit and times a new piece has is updated in place: only its value, reason,
# source and rule change, none of them indexed, so PostgreSQL keeps the new version on the same
# page (a HOT update: no index entry, the old version pruned without a vacuum). A re-sent forecast
# over the same quarter hours, as providers send them, leaves no dead rows behind for the next to
# step over. The other rows over the range are deleted (their parts outside it kept, trimmed)
# and the new pieces no row had are inserted. The three parts touch different rows. The rows to
# delete are found with NOT IN, which PostgreSQL answers from a hash of the new pieces: NOT EXISTS
# was planned as a nested loop (the generic plan expects one row), 96 x 48 comparisons a forecast.
_REPLACE_SQL = """
WITH new AS MATERIALIZED ({pieces}),
kept AS (
    UPDATE forecasts_envelope AS e SET
        microgrid_id = n.microgrid_id, node_id = n.node_id, value = n.value, reason = n.reason,
        forecast_id = n.forecast_id, rule = n.rule
    FROM new AS n
    WHERE e.group_id = %(group)s AND e.quantity = %(quantity)s AND e."end" > %(start)s AND e.start < %(end)s
        AND e.phase = n.phase AND e.unit = n.unit AND e.start = n.start AND e."end" = n."end"
        AND (e.microgrid_id, e.node_id, e.value, e.reason, e.forecast_id, e.rule)
            IS DISTINCT FROM (n.microgrid_id, n.node_id, n.value, n.reason, n.forecast_id, n.rule)
),
gone AS (
    DELETE FROM forecasts_envelope AS e
    WHERE e.group_id = %(group)s AND e.quantity = %(quantity)s AND e."end" > %(start)s AND e.start < %(end)s
        AND (e.phase, e.unit, e.start, e."end") NOT IN (SELECT n.phase, n.unit, n.start, n."end" FROM new AS n)
    RETURNING group_id, microgrid_id, node_id, quantity, phase, unit, value, start, "end", reason, forecast_id, rule
)
{insert}
SELECT group_id, microgrid_id, node_id, quantity, phase, unit, value,
       start, %(start)s::timestamptz, reason, forecast_id, rule
FROM gone WHERE start < %(start)s
UNION ALL
SELECT group_id, microgrid_id, node_id, quantity, phase, unit, value,
       %(end)s::timestamptz, "end", reason, forecast_id, rule
FROM gone WHERE "end" > %(end)s
UNION ALL
SELECT n.group_id, n.microgrid_id, n.node_id, n.quantity, n.phase, n.unit, n.value,
       n.start, n."end", n.reason, n.forecast_id, n.rule
FROM new AS n
WHERE NOT EXISTS (
    SELECT 1 FROM forecasts_envelope AS e
    WHERE e.group_id = %(group)s AND e.quantity = %(quantity)s AND e."end" > %(start)s AND e.start < %(end)s
        AND e.phase = n.phase AND e.unit = n.unit AND e.start = n.start AND e."end" = n."end"
)
"""


def _envelopes_replace(*, group: CapacityGroup, quantity: str, start: datetime, end: datetime, pieces) -> None:
    """The group's ``quantity`` rows over [start, end) become ``pieces``; rows reaching outside the
    range keep their parts outside it. On PostgreSQL one statement (rows updated in place where a
    piece has their phase, unit and times; the rest deleted, trimmed remainders and new pieces
    inserted)."""
    rows = [
        {
            "group_id": group.id,
            "microgrid_id": group.microgrid_id,
            "node_id": group.node_id,
            "quantity": quantity,
            "phase": piece.phase,
            "unit": piece.unit,
            "value": piece.value,
            "start": piece.start,
            "end": piece.end,
            "reason": piece.reason,
            "forecast_id": piece.source_id,
            "rule": piece.rule,
        }
        for piece in pieces
    ]
    if connection.vendor == "postgresql":
        select, data = rows_sql(Envelope, rows, ENVELOPE_FIELDS, placeholder="%(pieces)s")
        sql = _REPLACE_SQL.format(insert=insert_columns(Envelope, ENVELOPE_FIELDS), pieces=select)
        params = {"group": group.id, "quantity": quantity, "start": start, "end": end, "pieces": data}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    overlapping = Envelope.objects.filter(group=group, quantity=quantity, end__gt=start, start__lt=end)
    kept = []
    for row in overlapping.values(*ENVELOPE_FIELDS):
        if row["start"] < start:
            kept.append({**row, "end": start})
        if row["end"] > end:
            kept.append({**row, "start": end})
    overlapping.delete()
    rows_insert(Envelope, kept + rows)


def _offline_schedule_sync(*, group: CapacityGroup, state: EnvelopeState, offline_since: datetime | None) -> None:
    """Rebuild import and export from the offline cut-over on when the partner's state changed."""
    if state.offline_since == offline_since:
        return
    candidates = [t for t in (state.offline_since, offline_since) if t is not None]
    start = min(candidates)
    for quantity in (Quantity.IMPORT, Quantity.EXPORT):
        envelopes_rebuild(group=group, quantity=quantity, start=start, end=FOREVER, offline_since=offline_since)
    state.offline_since = offline_since


def _announce(*, group: CapacityGroup, state: EnvelopeState, now: datetime) -> dict:
    """Record a mode change and tell subscribers when the envelope in force changed."""
    offline_since = state.offline_since
    envelope = envelope_in_force(group=group, at=now)
    mode, reason = mode_decide(
        envelope=envelope, offline_since=offline_since, provider_name=group.capacity_provider.name
    )
    if mode != group.mode:
        group.mode_changes.create(from_mode=group.mode, to_mode=mode, reason=reason[:255], at=now)
        group.mode, group.mode_since, group.mode_reason = mode, now, reason[:255]
        group._change_reason = f"mode {mode}: {reason}"[:255]
        group.save(update_fields=["mode", "mode_since", "mode_reason", "modified"])
        envelope["mode"], envelope["modeSince"] = mode, envelope["at"]
    changed = ["offline_since", "checked_at"]  # the in force envelope (JSON) only when it changed
    if in_force_signature(envelope) != in_force_signature(state.in_force or {}):
        state.in_force, state.in_force_since = envelope, now
        changed += ["in_force", "in_force_since"]
        body = {"event": ENVELOPE_CHANGED, "envelope": envelope}
        subscriptions = group.subscriptions.filter(enabled=True) if state.subscribed else []
        for subscription in subscriptions:
            webhook_enqueue(subscription=subscription, group=group, body=body)
    state.checked_at = now
    fields_update(state, changed)
    return envelope


@transaction.atomic
def groups_mode_check_claim(*, now: datetime | None = None) -> list[int]:
    """Claim the enabled groups due a periodic mode check; return their ids (one check each).

    A claim stamps the group's state row, locked with ``skip_locked``: a second dispatcher running
    at the same time skips the rows this one holds, and once this one has committed it finds them
    claimed. A claim lasts half of ``GROUP_MODE_CHECK_SECONDS``, so each group is queued once per
    round, and one whose queued check was lost is claimed again in the next round."""
    now = now or timezone.now()
    missing = CapacityGroup.objects.filter(enabled=True, envelope_state__isnull=True).values_list("id", flat=True)
    EnvelopeState.objects.bulk_create([EnvelopeState(group_id=gid) for gid in missing], ignore_conflicts=True)
    due_before = now - timedelta(seconds=settings.GROUP_MODE_CHECK_SECONDS / 2)
    ids = list(
        EnvelopeState.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(group__enabled=True)
        .filter(Q(mode_check_claimed_at__isnull=True) | Q(mode_check_claimed_at__lte=due_before))
        .order_by("group_id")
        .values_list("group_id", flat=True)
    )
    EnvelopeState.objects.filter(group_id__in=ids).update(mode_check_claimed_at=now)
    return ids


@transaction.atomic
def group_mode_refresh(*, group_id: int, now: datetime | None = None) -> dict | None:
    """Recompute a group's mode and envelope in force; rebuild its schedule when its provider
    went offline or recovered; record changes and fire webhooks. Skips a group another worker
    holds (returns None). Without ``now`` the group is judged at the time the lock was taken, so
    a writer that committed while this one waited is never judged from before its change."""
    group = CapacityGroup.objects.filter(id=group_id).first()
    if group is None:
        return None
    state = _state_lock(group=group, skip_locked=True)
    if state is None:
        return None
    now = now or timezone.now()
    offline_since = provider_offline_since(group=group, now=now, state=state)
    _offline_schedule_sync(group=group, state=state, offline_since=offline_since)
    return _announce(group=group, state=state, now=now)


@transaction.atomic(savepoint=False)
def forecast_receive(
    *,
    group,
    sender,
    forecast_type: str,
    blocks: list[dict],
    request_id: str,
    received_at: datetime,
    message=None,
    message_type: str = Forecast._meta.get_field("message_type").default,
    correlation_id: str = "",
) -> Forecast:
    """Store a forecast received for ``group``. ``blocks`` are plain dicts with ``capacity``,
    ``phase``, ``unit``, ``start_time``, ``end_time`` (validated, timezone-aware).

    An update from the group's provider (or staff) rebuilds the operating envelope over the
    forecast's time range, updates the group mode, tells webhook subscribers when the envelope in
    force changed, answers pending adjustment requests and is forwarded to the group's optimizer
    with the same request id. An adjustment from the optimizer is relayed to the provider; one
    from anyone else is only stored. ``received_at`` is taken as the newest of its kind.

    Everything happens in the caller's transaction (no savepoint: a failure rolls it all back).
    Statements for a provider's update: the forecast with its blocks, the state lock, the envelope
    over the forecast's range, the envelope in force, the state."""
    [forecast] = instances_insert(
        [
            Forecast(
                group=group,
                sender=sender,
                message=message,
                message_type=message_type,
                type=forecast_type,
                request_id=request_id,
                correlation_id=correlation_id,
                received_at=received_at,
                all_zero=bool(blocks) and all(Decimal(b["capacity"]) == 0 for b in blocks),
                blocks=blocks_stored(blocks),
                starts_at=min((b["start_time"] for b in blocks), default=None),
                ends_at=max((b["end_time"] for b in blocks), default=None),
            )
        ]
    )
    FORECASTS_RECEIVED.labels(forecast_type, message_type).inc()

    sender_id = getattr(sender, "id", None)
    optimizer = group.capacity_optimizer if group.capacity_optimizer_id else None
    from_optimizer = optimizer is not None and sender_id == optimizer.id

    def body() -> dict:  # forwarded and relayed unchanged in content, in our strict wire form (UTC, ``Z``)
        return forecast_body(group_id=group.identifier, forecast_type=forecast_type, blocks=blocks)

    if message_type == ForecastMessage.ADJUST:
        if from_optimizer:
            adjustment_relay(group=group, optimizer=optimizer, forecast=forecast, body=body())
        return forecast

    from_provider = sender_id is None or sender_id == group.capacity_provider_id
    state = None
    if from_provider or forecast_type == ForecastType.OPTIMUM:
        state = _state_lock(group=group)
        now = timezone.now()
        offline_since = provider_offline_since(group=group, now=now, state=state)
        _offline_schedule_sync(group=group, state=state, offline_since=offline_since)
        quantity = TYPE_QUANTITY[forecast_type]
        is_fallback = forecast_type in (ForecastType.FALLBACK_CONSUMPTION, ForecastType.FALLBACK_GENERATION)
        if blocks and (not is_fallback or offline_since is not None):
            newest = Source(
                id=forecast.id,
                received_at=received_at,
                all_zero=forecast.all_zero,
                blocks=[Block(b["capacity"], b["phase"], b["unit"], b["start_time"], b["end_time"]) for b in blocks],
            )
            envelopes_rebuild(
                group=group,
                quantity=quantity,
                start=min(b.start for b in newest.blocks),
                end=FOREVER if is_fallback else max(b.end for b in newest.blocks),
                offline_since=offline_since,
                newest=None if is_fallback else newest,
            )
        _announce(group=group, state=state, now=now)

    if from_provider and sender_id is not None and (state is None or state.awaiting):
        adjustments_answer(group=group, forecast=forecast)

    if optimizer is not None and optimizer.enabled and not from_optimizer:
        outbox_enqueue(partner=optimizer, message_type=message_type, body=body(), request_id=request_id, group=group)
    return forecast


PRUNE_BATCH = 5_000


def forecasts_prune(*, now: datetime, days: int | None = None) -> int:
    """Delete what is past the retention period: envelope rows that ended before the cutoff, then,
    in batches (each its own transaction), forecasts received before it whose blocks all ended
    before it, with their blocks. A forecast still in force, or one that a later forecast left
    some quarter hour to, is never old enough: its blocks reach past the cutoff. Compliance errors
    and adjustment answers that named a pruned forecast keep their rows without it. Returns how
    many forecasts were deleted."""
    days = settings.FORECAST_RETENTION_DAYS if days is None else days
    cutoff = now - timedelta(days=days)
    with transaction.atomic():
        envelopes = Envelope.objects.filter(end__lte=cutoff).delete()[0]
    old = Forecast.objects.filter(Q(ends_at__isnull=True) | Q(ends_at__lte=cutoff), received_at__lt=cutoff)
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(old.order_by().values_list("id", flat=True)[:PRUNE_BATCH])
            if not ids:
                break
            deleted += Forecast.objects.filter(id__in=ids).delete()[1].get(Forecast._meta.label, 0)
    if deleted or envelopes:
        logger.info("Pruned %s forecasts and %s envelope rows older than %s", deleted, envelopes, cutoff.isoformat())
    return deleted


def adjustments_answer(*, group: CapacityGroup, forecast: Forecast) -> int:
    """Link the provider's forecast to the adjustment request it answers: the one it correlates
    to, else every request of the group still awaiting an answer."""
    awaiting = AdjustmentRequest.objects.filter(group=group, status=AdjustmentStatus.AWAITING)
    if forecast.correlation_id and awaiting.filter(request_id=forecast.correlation_id).exists():
        awaiting = awaiting.filter(request_id=forecast.correlation_id)
    return awaiting.update(status=AdjustmentStatus.ANSWERED, answer=forecast, answered_at=forecast.received_at)


@transaction.atomic
def adjustment_request(
    *,
    group: CapacityGroup,
    forecast_type: str,
    blocks: list[dict],
    correlation_id: str = "",
    requested_by=None,
) -> AdjustmentRequest:
    """Ask the group's Capacity Provider for different limits (adjust_group_capacity_forecast)."""
    request_id = str(uuid.uuid4())
    body = forecast_body(group_id=group.identifier, forecast_type=forecast_type, blocks=blocks)
    message = outbox_enqueue(
        partner=group.capacity_provider,
        message_type=ForecastMessage.ADJUST,
        body=body,
        request_id=request_id,
        correlation_id=correlation_id,
        group=group,
    )
    return AdjustmentRequest.objects.create(
        group=group,
        type=forecast_type,
        forecasted_blocks=body["forecasted_blocks"],
        request_id=request_id,
        correlation_id=correlation_id,
        requested_by=requested_by,
        outbound_message=message,
    )


def adjustment_relay(*, group: CapacityGroup, optimizer, forecast: Forecast, body: dict) -> AdjustmentRequest:
    """Relay an optimizer's adjustment to the provider with its request id."""
    message = outbox_enqueue(
        partner=group.capacity_provider,
        message_type=ForecastMessage.ADJUST,
        body=body,
        request_id=forecast.request_id,
        correlation_id=forecast.correlation_id,
        group=group,
    )
    return AdjustmentRequest.objects.create(
        group=group,
        type=forecast.type,
        forecasted_blocks=body.get("forecasted_blocks", []),
        request_id=forecast.request_id,
        correlation_id=forecast.correlation_id,
        relayed_from=optimizer,
        outbound_message=message,
    )


# --- Webhook subscriptions ------------------------------------------------------------------


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_enqueue(*, subscription: EnvelopeSubscription, group: CapacityGroup, body: dict):
    """Queue ``body`` for the subscriber's URL, signed with its secret: ``X-Signature`` is
    HMAC-SHA256 of the exact bytes sent (kept encrypted with the signature until sent)."""
    data = json.dumps(body)
    return outbox_enqueue(
        partner=None,
        group=group,
        message_type=ENVELOPE_CHANGED,
        body=body,
        url=subscription.url,
        sealed_body=data,
        sealed_headers={"X-Signature": webhook_signature(subscription.secret, data.encode())},
    )


@transaction.atomic
def subscription_create(*, group: CapacityGroup, url: str, secret: str = "", enabled: bool = True):
    """Subscribe ``url`` to envelope changes of ``group``. Returns (subscription, secret): the
    secret is generated when not given and is shown only this once."""
    secret = secret or secrets.token_urlsafe(32)
    subscription = EnvelopeSubscription.objects.create(group=group, url=url, secret=secret, enabled=enabled)
    return subscription, secret


@transaction.atomic
def subscription_update(*, subscription: EnvelopeSubscription, **changes) -> EnvelopeSubscription:
    for field in ("group", "url", "enabled", "secret"):
        if field in changes and (field != "secret" or changes[field]):
            setattr(subscription, field, changes[field])
    subscription.save()
    return subscription


@transaction.atomic
def subscription_delete(*, subscription: EnvelopeSubscription) -> None:
    subscription.delete()
