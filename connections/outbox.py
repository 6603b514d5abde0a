"""The durable outbox: a transport for outbound Message rows. It knows the protocol's ordering and
offline rules from the message registry (``connections/oscp/messages.py``) and nothing of what a
message means; what follows a delivery or a death is the registered handlers' business.

Writing: ``outbox_enqueue`` (one row) and ``outbox_enqueue_many`` (one INSERT for many) write in
the caller's transaction and publish the ids to the broker after commit, in batches of
``OSCP_OUTBOX_BATCH`` (``connections.messages_send``).

Sending a batch (``messages_deliver``), on the worker's kept database connection:

1. *Claim* — one statement, ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``
   (on PostgreSQL joined with the partners, so nothing else is read): rows that are pending,
   failed or ``sending`` past their lease, due, and not held become ``sending``, ``attempts + 1``,
   ``next_attempt_at`` = now + ``OSCP_OUTBOX_STUCK_SECONDS`` (the lease). Rows whose deadline
   passed become ``dead`` in the same statement.
2. *Send* outside any transaction, several at a time (``OSCP_SEND_CONCURRENCY`` threads, kept-alive
   connections per partner host: ``connections.client``).
3. *Record* — one statement for the whole batch, each row only if it is still ours (``sending``,
   same attempt): 2xx → ``sent``; 3xx/4xx → ``dead`` (the client re-authenticates once on 401/403
   for OAuth partners); 5xx/timeouts/connection errors → ``pending`` with exponential backoff and
   jitter until the deadline (default now + ``OSCP_MESSAGE_DEADLINE_SECONDS``; a heartbeat's is
   the ``offline_mode_at`` it announced), then ``dead``.

Holds (a held row stays pending, its reason in ``error``, until released or its deadline):
- *ordered*: a message to a partner waits while an older *ordered* message (register, handshake,
  handshake_acknowledge) to it is unsent; when that one is sent or dies, the rest are released.
- *offline*: only messages the registry allows while offline go to an offline partner;
  the lifecycle releases the rest when it is online again (``outbox_release``).
- *disabled*: nothing goes to a disabled partner until it is enabled again.

The sweeper (``outbox_sweep``) re-publishes pending rows overdue by more than
``OSCP_OUTBOX_SWEEP_GRACE_SECONDS`` (a queue entry the broker lost) and ``sending`` rows whose lease
ran out (a worker killed mid-send): delivery is at least once, with the same ``X-Request-ID`` on
every attempt.
"""

from __future__ import annotations

import json
import logging
import os
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from oscp_platform.broker import task_publish
from oscp_platform.bulk import instance_row, instances_insert, rows_insert_returning

from . import client
from .choices import ConnectionState, MessageDirection, MessageStatus
from .metrics import sends_observe
from .models import DeliveryAttempt, Message, Partner
from .oscp.messages import handlers_of, offline_allowed_types, ordered_types, spec_of

logger = logging.getLogger(__name__)

SEND_TASK = "connections.messages_send"
RETRYABLE = (MessageStatus.PENDING, MessageStatus.FAILED)
UNSENT = (MessageStatus.PENDING, MessageStatus.FAILED, MessageStatus.SENDING)
HELD_DISABLED = "waiting: partner is disabled"
HELD_OFFLINE = "waiting: partner is offline until a new handshake"
HELD_ORDERED = "waiting: an earlier register/handshake message to this partner is not sent yet"
EXPIRED = "deadline passed before it could be sent"


# --- writing and publishing ----------------------------------------------------------------------
def outbox_message(
    *,
    partner: Partner | None,
    message_type: str,
    body: dict | list | None,
    correlation_id: str = "",
    request_id: str | None = None,
    group=None,
    url: str = "",
    sealed_headers: dict | None = None,
    sealed_body: str = "",
    method: str = "POST",
    headers: dict | None = None,
    ordering_key: str = "",
    deadline: datetime | None = None,
    now: datetime | None = None,
) -> Message:
    """An unsaved outbound row, due now. ``body`` is what the message log shows (masked);
    ``sealed_body`` (encrypted) is sent instead when the real body carries a secret. A row
    without a partner goes to ``url`` with ``sealed_headers`` (encrypted)."""
    now = now or timezone.now()
    return Message(
        partner=partner,
        group=group,
        direction=MessageDirection.OUTBOUND,
        message_type=message_type,
        request_id=request_id or str(uuid.uuid4()),
        correlation_id=correlation_id,
        status=MessageStatus.PENDING,
        url=url,
        method=method,
        headers=headers or {},
        ordering_key=ordering_key,
        body=body,
        sealed_body=sealed_body,
        sealed_headers=json.dumps(sealed_headers) if sealed_headers else "",
        next_attempt_at=now,
        deadline=deadline or now + timedelta(seconds=settings.OSCP_MESSAGE_DEADLINE_SECONDS),
    )


def outbox_enqueue(**fields) -> Message:
    """Write one outbound message (``outbox_message`` fields) in the caller's transaction; it is
    published on commit."""
    message = outbox_message(**fields)
    message.save(force_insert=True)
    outbox_publish([message.id])
    return message


def outbox_enqueue_many(messages: list[Message]) -> list[Message]:
    """Write many outbound messages (built with ``outbox_message``) in one INSERT; they are
    published on commit, in batches."""
    created = instances_insert(messages)
    outbox_publish([message.id for message in created])
    return created


def outbox_enqueue_bodies(items: list[tuple], *, now: datetime | None = None) -> list[int]:
    """Write many outbound messages to partners in one INSERT, each item (partner id, group id or
    None, message type, body), and return their ids in order; they are published on commit.

    For the many messages of a report round: every other column is what ``outbox_message``
    gives, worked out once for the batch, and no model instance is built per message."""
    if not items:
        return []
    if connection.vendor != "postgresql":
        messages = [
            outbox_message(partner=None, message_type=message_type, body=body, now=now)
            for _, _, message_type, body in items
        ]
        for message, (partner_id, group_id, _, _) in zip(messages, items, strict=True):
            message.partner_id, message.group_id = partner_id, group_id
        return [message.id for message in outbox_enqueue_many(messages)]
    template = instance_row(outbox_message(partner=None, message_type="", body=None, now=now))
    rows = [
        {
            **template,
            "partner_id": partner_id,
            "group_id": group_id,
            "message_type": message_type,
            "body": body,
            "request_id": str(uuid.uuid4()),
        }
        for partner_id, group_id, message_type, body in items
    ]
    ids = rows_insert_returning(Message, rows)
    outbox_publish(ids)
    return ids


def outbox_publish(message_ids: list[int], *, countdown: float = 0) -> None:
    """Publish the ids to the broker once the caller's transaction commits (at once outside one)."""
    ids = list(message_ids)
    if ids:
        transaction.on_commit(lambda: broker_publish(ids, countdown=countdown))


def broker_publish(message_ids: list[int], *, countdown: float = 0) -> None:
    """One ``connections.messages_send`` task per batch of ids. Never raises: the rows are
    committed, so when the broker is down this logs a warning and the sweeper publishes them once
    they are ``OSCP_OUTBOX_SWEEP_GRACE_SECONDS`` overdue (a request's answer never depends on it)."""
    size = settings.OSCP_OUTBOX_BATCH
    fallback = f"The outbox sweeper sends them after {settings.OSCP_OUTBOX_SWEEP_GRACE_SECONDS:g}s."
    for start in range(0, len(message_ids), size):
        batch = list(message_ids[start : start + size])
        task_publish(SEND_TASK, args=(batch,), countdown=countdown, fallback=fallback)


def retry_delay(attempt: int) -> float:
    """Exponential backoff with (equal) jitter for the ``attempt``-th failure."""
    ceiling = min(settings.OSCP_RETRY_MAX_SECONDS, settings.OSCP_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


# --- claiming ------------------------------------------------------------------------------------
_MESSAGE_FIELDS = Message._meta.concrete_fields
_PARTNER_FIELDS = Partner._meta.concrete_fields


def _in_list(name: str, values: list) -> tuple[str, dict]:
    names = [f"{name}{i}" for i in range(len(values))]
    return ", ".join(f"%({n})s" for n in names), dict(zip(names, values, strict=True))


def _claim_sql(message_ids: list[int], now: datetime) -> tuple[str, dict]:
    """The claim statement: due rows that are not held become ``sending``; expired ones ``dead``.

    The direction and the unsent statuses are written into the text, not passed: a kept
    connection prepares the statement, and PostgreSQL's generic plan would not know them, nor so
    use the partial indexes of unsent messages for the rows waiting ahead of each one."""
    ids, id_params = _in_list("id", message_ids)
    offline, offline_params = _in_list("offline", offline_allowed_types())
    ordered, ordered_params = _in_list("ordered", ordered_types())
    unsent = ", ".join(f"'{status.value}'" for status in UNSENT)
    out = f"'{MessageDirection.OUTBOUND.value}'"
    lock = "FOR UPDATE OF m SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    expired = "deadline <= %(now)s"
    sql = f"""
        UPDATE connections_message SET
            status = CASE WHEN {expired} THEN %(dead)s ELSE %(sending)s END,
            attempts = CASE WHEN {expired} THEN attempts ELSE attempts + 1 END,
            next_attempt_at = CASE WHEN {expired} THEN next_attempt_at ELSE %(lease)s END,
            completed_at = CASE WHEN {expired} THEN %(now)s ELSE completed_at END,
            error = CASE WHEN {expired} THEN
                (CASE WHEN error = '' THEN %(expired)s ELSE error || '; ' || %(expired)s END)
                ELSE error END
        WHERE id IN (
            SELECT m.id FROM connections_message m
            LEFT JOIN connections_partner p ON p.id = m.partner_id
            WHERE m.id IN ({ids}) AND m.direction = {out} AND m.status IN ({unsent})
              AND m.next_attempt_at <= %(now)s
              AND (m.deadline <= %(now)s OR m.partner_id IS NULL OR (
                  p.enabled AND p.connection_state <> %(disabled)s
                  AND (p.connection_state <> %(offline)s OR m.message_type IN ({offline}))
                  AND NOT EXISTS (
                      SELECT 1 FROM connections_message b
                      WHERE b.partner_id = m.partner_id AND b.direction = {out} AND b.id < m.id
                        AND b.status IN ({unsent}) AND b.message_type IN ({ordered})
                  )
              ))
              AND (m.ordering_key = '' OR m.deadline <= %(now)s OR NOT EXISTS (
                  SELECT 1 FROM connections_message k
                  WHERE k.ordering_key = m.ordering_key AND k.direction = {out} AND k.id < m.id
                    AND k.status IN ({unsent}) AND k.ordering_key <> ''
              ))
            {lock}
        )
        RETURNING {", ".join(f.column for f in _MESSAGE_FIELDS)}
    """
    params = {
        "now": now,
        "lease": now + timedelta(seconds=settings.OSCP_OUTBOX_STUCK_SECONDS),
        "dead": MessageStatus.DEAD.value,
        "sending": MessageStatus.SENDING.value,
        "expired": EXPIRED,
        "disabled": ConnectionState.DISABLED.value,
        "offline": ConnectionState.OFFLINE.value,
        **id_params,
        **offline_params,
        **ordered_params,
    }
    return sql, params


def _instances(model, fields, rows):
    """Model instances from raw rows, with the fields' database converters applied (JSON,
    encrypted text, ...)."""
    columns = [field.get_col(model._meta.db_table) for field in fields]
    converters = [(col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)) for col in columns]
    names = [field.attname for field in fields]
    for row in rows:
        values = list(row)
        for index, (col, funcs) in enumerate(converters):
            for convert in funcs:
                values[index] = convert(values[index], col, connection)
        yield model.from_db(connection.alias, names, values)


def _claim(message_ids: list[int], now: datetime) -> tuple[list[Message], dict[int, Partner]]:
    """Claim the batch (one statement on PostgreSQL; SQLite reads the partners after)."""
    sql, params = _claim_sql(message_ids, now)
    width = len(_MESSAGE_FIELDS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            partner_columns = ", ".join(f"p.{f.column}" for f in _PARTNER_FIELDS)
            cursor.execute(
                f"WITH claimed AS ({sql}) SELECT claimed.*, {partner_columns} "
                "FROM claimed LEFT JOIN connections_partner p ON p.id = claimed.partner_id",
                params,
            )
            rows = cursor.fetchall()
            messages = list(_instances(Message, _MESSAGE_FIELDS, [row[:width] for row in rows]))
            with_partner = [row[width:] for row in rows if row[width] is not None]
            partners = {p.id: p for p in _instances(Partner, _PARTNER_FIELDS, with_partner)}
            return messages, partners
        cursor.execute(sql, params)
        messages = list(_instances(Message, _MESSAGE_FIELDS, cursor.fetchall()))
    partners = Partner.objects.in_bulk({m.partner_id for m in messages if m.partner_id})
    return messages, partners


def _holds_note(message_ids: list[int], now: datetime) -> None:
    """Say in ``error`` why rows of the batch were not claimed (the uncommon path)."""
    due = Message.objects.filter(
        id__in=message_ids, direction=MessageDirection.OUTBOUND, status__in=UNSENT, next_attempt_at__lte=now
    ).exclude(deadline__lte=now)
    disabled = Q(partner__enabled=False) | Q(partner__connection_state=ConnectionState.DISABLED)
    due.filter(disabled).update(status=MessageStatus.PENDING, error=HELD_DISABLED)
    offline = Q(partner__connection_state=ConnectionState.OFFLINE) & ~Q(message_type__in=offline_allowed_types())
    due.filter(offline).exclude(disabled).update(status=MessageStatus.PENDING, error=HELD_OFFLINE)
    blocker = Message.objects.filter(
        partner_id=OuterRef("partner_id"),
        direction=MessageDirection.OUTBOUND,
        status__in=UNSENT,
        message_type__in=ordered_types(),
        id__lt=OuterRef("id"),
    )
    due.filter(Exists(blocker)).exclude(disabled).exclude(offline).update(
        status=MessageStatus.PENDING, error=HELD_ORDERED
    )


# --- sending and recording -----------------------------------------------------------------------
@dataclass
class Outcome:
    message: Message
    delivery: client.Delivery
    error: str = ""
    retry: bool = False


def _send(message: Message, partner: Partner | None) -> Outcome:
    try:
        delivery = client.message_post(message=message, partner=partner)
    except client.PartnerPermanentError as exc:
        return Outcome(message, exc.delivery, str(exc), retry=False)
    except client.PartnerTemporaryError as exc:
        return Outcome(message, exc.delivery, str(exc), retry=True)
    return Outcome(message, delivery)


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    """Threads that send (HTTP only, no database), made in the process that uses them (a forked
    worker child never inherits its parent's)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=settings.OSCP_SEND_CONCURRENCY, thread_name_prefix="send"))
    return _pool[1]


def _send_all(messages: list[Message], partners: dict[int, Partner]) -> list[Outcome]:
    if len(messages) == 1:
        return [_send(messages[0], partners.get(messages[0].partner_id))]
    return list(_executor().map(lambda m: _send(m, partners.get(m.partner_id)), messages))


def _final(outcome: Outcome, now: datetime) -> dict:
    """The row's new values for an outcome."""
    message, delivery = outcome.message, outcome.delivery
    values = {
        "url": delivery.url or message.url,
        "headers": delivery.headers or message.headers,
        "http_status": delivery.status,
        "duration_ms": delivery.duration_ms,
        "error": outcome.error,
        "completed_at": now,
        "next_attempt_at": message.next_attempt_at,
        "status": MessageStatus.SENT if not outcome.error else MessageStatus.DEAD,
    }
    if outcome.error and outcome.retry:
        if message.deadline and now >= message.deadline:
            values["error"] = f"deadline passed after {message.attempts} attempts; last: {outcome.error}"
        else:
            next_at = now + timedelta(seconds=retry_delay(message.attempts))
            if message.deadline:
                next_at = min(next_at, message.deadline)
            values.update(status=MessageStatus.PENDING, completed_at=None, next_attempt_at=next_at)
    return values


_RECORDED = ("status", "error", "http_status", "duration_ms", "url", "headers", "next_attempt_at", "completed_at")
# The outcomes, the rows they change and the attempts log in one statement: an attempt is logged
# only where its outcome was recorded (the row was still ours).
_RECORD_SQL = """
    WITH v AS (
        SELECT * FROM jsonb_to_recordset(%(outcomes)s::jsonb) AS v(
            id bigint, attempts integer, status text, error text, http_status integer, duration_ms integer,
            url text, headers jsonb, next_attempt_at timestamptz, completed_at timestamptz,
            outcome text, attempt_error text
        )
    ), recorded AS (
        UPDATE connections_message AS m SET
            status = v.status, error = v.error, http_status = v.http_status, duration_ms = v.duration_ms,
            url = v.url, headers = v.headers, next_attempt_at = v.next_attempt_at, completed_at = v.completed_at
        FROM v
        WHERE m.id = v.id AND m.attempts = v.attempts AND m.status = %(sending)s
        RETURNING v.id, v.attempts, v.outcome, v.http_status, v.duration_ms, v.attempt_error
    )
    INSERT INTO connections_deliveryattempt (message_id, number, attempted_at, outcome, http_status, duration_ms, error)
    SELECT id, attempts, %(now)s::timestamptz, outcome, http_status, duration_ms, attempt_error FROM recorded
"""


def _record(outcomes: list[Outcome], now: datetime) -> list[tuple[Message, dict]]:
    """One UPDATE for the batch; each row changes only if it is still ours (sending, same attempt),
    and each change is logged as a ``DeliveryAttempt``. On PostgreSQL the outcomes travel as one
    JSON document in one statement; elsewhere as a CASE per column, then the attempts."""
    if not outcomes:
        return []
    finals = [(o.message, _final(o, now)) for o in outcomes]
    if connection.vendor == "postgresql":
        rows = [
            {
                "id": message.pk,
                "attempts": message.attempts,
                "outcome": _outcome_name(values),
                "attempt_error": outcome.error,
                **{
                    name: (value.isoformat() if isinstance(value, datetime) else value)
                    for name, value in values.items()
                },
            }
            for outcome, (message, values) in zip(outcomes, finals, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                _RECORD_SQL, {"outcomes": json.dumps(rows), "sending": MessageStatus.SENDING.value, "now": now}
            )
    else:
        ours = set(
            Message.objects.filter(pk__in=[m.pk for m, _ in finals], status=MessageStatus.SENDING).values_list(
                "pk", "attempts"
            )
        )
        changes = {}
        for name in _RECORDED:
            field = Message._meta.get_field(name)
            whens = [
                When(Q(pk=message.pk, attempts=message.attempts), then=Value(values[name], output_field=field))
                for message, values in finals
            ]
            changes[name] = Case(*whens, default=F(name), output_field=field)
        Message.objects.filter(pk__in=[m.pk for m, _ in finals], status=MessageStatus.SENDING).update(**changes)
        DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(
                message_id=message.pk,
                number=message.attempts,
                attempted_at=now,
                outcome=_outcome_name(values),
                http_status=values["http_status"],
                duration_ms=values["duration_ms"],
                error=outcome.error,
            )
            for outcome, (message, values) in zip(outcomes, finals, strict=True)
            if (message.pk, message.attempts) in ours
        )
    for message, values in finals:
        for name, value in values.items():
            setattr(message, name, value)
    return finals


def _outcome_name(values: dict) -> str:
    return {MessageStatus.SENT: "sent", MessageStatus.PENDING: "retry"}.get(values["status"], "dead")


def messages_deliver(*, message_ids: list[int]) -> int:
    """Claim, send and record a batch of outbound messages (``connections.messages_send``);
    returns how many were sent."""
    now = timezone.now()
    claimed, partners = _claim(list(message_ids), now)
    unclaimed = set(message_ids) - {message.id for message in claimed}
    if unclaimed:
        _holds_note(sorted(unclaimed), now)
    expired = [m for m in claimed if m.status == MessageStatus.DEAD]
    sending = [m for m in claimed if m.status == MessageStatus.SENDING]
    outcomes = _send_all(sending, partners)
    recorded = _record(outcomes, timezone.now())
    sends_observe([(m.partner_id, m.message_type, _outcome_name(v), v["duration_ms"]) for m, v in recorded])
    for message, values in recorded:
        if values["status"] == MessageStatus.PENDING:
            countdown = (values["next_attempt_at"] - timezone.now()).total_seconds()
            broker_publish([message.id], countdown=max(countdown, 0))
        elif values["status"] == MessageStatus.DEAD:
            logger.warning(
                "Message %s %s %s dead: %s", message.id, message.message_type, message.request_id, values["error"]
            )
    for message in expired + [m for m, v in recorded if v["status"] != MessageStatus.PENDING]:
        _after_outcome(message)
    return sum(1 for _, values in recorded if values["status"] == MessageStatus.SENT)


def _after_outcome(message: Message) -> None:
    """What follows a final outcome: ordered messages release the ones that waited behind them,
    and the registered ``delivered``/``dead`` handler runs (in one transaction, the row re-read
    under lock so a stale outcome never triggers it)."""
    if message.ordering_key:
        outbox_release_key(ordering_key=message.ordering_key, after_id=message.id)
    spec = spec_of(message.message_type)
    if message.partner_id is None or spec is None:
        return
    handlers = handlers_of(message.message_type)
    handler = handlers.delivered if message.status == MessageStatus.SENT else handlers.dead
    if not spec.ordered and handler is None:
        return
    with transaction.atomic():
        current = Message.objects.select_for_update().filter(id=message.id).first()
        if current is None or current.status != message.status or current.attempts != message.attempts:
            return
        if spec.ordered:
            outbox_release(partner_id=current.partner_id, after_id=current.id)
        if handler is not None:
            handler(current)


# --- services ------------------------------------------------------------------------------------
def outbox_release(*, partner_id: int, after_id: int = 0) -> int:
    """Publish every due unsent message to a partner (back online, enabled again, or no longer
    waiting behind message ``after_id``), on commit."""
    ids = list(
        Message.objects.filter(
            partner_id=partner_id,
            direction=MessageDirection.OUTBOUND,
            status__in=RETRYABLE,
            id__gt=after_id,
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    outbox_publish(ids)
    return len(ids)


def outbox_release_key(*, ordering_key: str, after_id: int) -> int:
    """Publish the next unsent message with this ordering key (it waited behind ``after_id``)."""
    ids = list(
        Message.objects.filter(
            ordering_key=ordering_key,
            direction=MessageDirection.OUTBOUND,
            status__in=RETRYABLE,
            id__gt=after_id,
        )
        .order_by("id")
        .values_list("id", flat=True)[:1]
    )
    outbox_publish(ids)
    return len(ids)


@transaction.atomic
def message_retry(*, message: Message) -> Message:
    """Send a dead (or failed) outbound message again: pending, a new deadline, queued."""
    message = Message.objects.select_for_update().get(id=message.id)
    if message.direction != MessageDirection.OUTBOUND:
        raise ValidationError({"direction": "Only outbound messages can be retried."})
    if message.status not in (MessageStatus.DEAD, MessageStatus.FAILED):
        raise ValidationError(
            {"status": f"Only dead or failed messages can be retried (this one is {message.status})."}
        )
    if message.partner_id is None and spec_of(message.message_type) is not None:
        raise ValidationError({"partner": "Its partner was deleted: there is nobody to send it to."})
    if message.partner_id is not None:
        refusal = client.call_refusal(Partner.objects.get(pk=message.partner_id))
        if refusal:
            raise ValidationError({"partnerToken": f"It would die again: {refusal}"})
    now = timezone.now()
    message.status = MessageStatus.PENDING
    message.next_attempt_at = now
    message.deadline = now + timedelta(seconds=settings.OSCP_MESSAGE_DEADLINE_SECONDS)
    message.completed_at = None
    message.error = "; ".join(p for p in ("retry requested", message.error) if p)[:2000]
    message.save()
    outbox_publish([message.id])
    return message


@transaction.atomic
def outbox_sweep(*, now=None, batch: int = 5000) -> int:
    """Re-publish overdue pending rows and ``sending`` rows whose lease ran out; returns how many.
    Rows held for an offline or disabled partner are left alone until their deadline."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.OSCP_OUTBOX_SWEEP_GRACE_SECONDS)
    overdue = Q(status__in=RETRYABLE, next_attempt_at__lte=now - grace) | Q(
        status=MessageStatus.SENDING, next_attempt_at__lte=now
    )
    offline = Q(partner__connection_state=ConnectionState.OFFLINE) & ~Q(message_type__in=offline_allowed_types())
    disabled = Q(partner__enabled=False) | Q(partner__connection_state=ConnectionState.DISABLED)
    waiting = (offline | disabled) & Q(deadline__gt=now)
    ids = list(
        Message.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(direction=MessageDirection.OUTBOUND)
        .filter(overdue)
        .exclude(waiting)
        .order_by("id")
        .values_list("id", flat=True)[:batch]
    )
    outbox_publish(ids)
    if ids:
        logger.info("Outbox sweep re-queued %s messages", len(ids))
    return len(ids)
