"""The durable outbox: sending outbound Message rows, retrying them, sweeping up lost ones.

A row is written by ``services.outbox_enqueue`` in the transaction of the change that caused it;
``connections.message_send`` (queued on commit) calls ``message_deliver``:

1. *Claim* in a short transaction: ``select_for_update(skip_locked=True)`` on the row if it is
   pending/failed and due (or ``sending`` but stuck past its claim lease), mark it ``sending``,
   ``attempts += 1`` and ``next_attempt_at`` = now + ``OSCP_OUTBOX_STUCK_SECONDS`` (the lease).
2. *Send* outside any transaction (``connections.client``).
3. *Record* the outcome in a second short transaction, only if the row is still ours (same
   attempt): 2xx → ``sent``; 3xx/4xx → ``dead`` at once (the client re-authenticates once on
   401/403 for OAuth partners); 5xx/timeouts/connection errors → back to ``pending`` with
   exponential backoff and jitter (``message_send.apply_async(countdown=...)``) until the
   message's ``deadline`` (default now + ``OSCP_MESSAGE_DEADLINE_SECONDS``; a heartbeat's is the
   ``offline_mode_at`` it announced), then ``dead``.

Ordering rule: ``register``, ``handshake`` and ``handshake_acknowledge`` set up the connection, so
a message to a partner is not sent while an *older* message of one of those types to the same
partner is still unsent (pending, failed or sending); a dead one no longer blocks. When such a
message is sent or dies, the messages waiting behind it are queued at once.

Offline rule: while a partner is ``offline`` only those three types flow; everything else stays
pending until the partner is online again (``partner_transition`` to online calls
``outbox_release``), or dies at its deadline.

Disabled rule: nothing at all goes to a disabled partner (``enabled`` off); its messages stay
pending until it is enabled again (``lifecycle.partner_enabled_apply`` calls ``outbox_release``),
or die at their deadline.

The sweeper (``connections.outbox_sweep``) re-queues pending rows overdue by more than
``OSCP_OUTBOX_SWEEP_GRACE_SECONDS`` (a queue entry Redis lost) and ``sending`` rows whose lease
ran out (a worker killed mid-send): delivery is at least once, and the partner sees the same
``X-Request-ID`` on every attempt.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import client
from .choices import ConnectionState, MessageDirection, MessageStatus, PartnerRole, RegistrationStatus
from .lifecycle import partner_lock
from .models import Message, Partner

logger = logging.getLogger(__name__)

ORDERED_TYPES = ("register", "handshake", "handshake_acknowledge")
OFFLINE_ALLOWED_TYPES = ORDERED_TYPES
RETRYABLE = (MessageStatus.PENDING, MessageStatus.FAILED)
UNSENT = (MessageStatus.PENDING, MessageStatus.FAILED, MessageStatus.SENDING)


def _queue(message_id: int, countdown: float = 0) -> None:
    from .tasks import message_send

    if countdown > 0:
        transaction.on_commit(lambda: message_send.apply_async((message_id,), countdown=countdown))
    else:
        transaction.on_commit(lambda: message_send.delay(message_id))


def retry_delay(attempt: int) -> float:
    """Exponential backoff with (equal) jitter for the ``attempt``-th failure."""
    ceiling = min(settings.OSCP_RETRY_MAX_SECONDS, settings.OSCP_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


def _hold_reason(message: Message, partner: Partner) -> str:
    """Why ``message`` must wait (empty when it may go now)."""
    if not partner.enabled or partner.connection_state == ConnectionState.DISABLED:
        return "waiting: partner is disabled"
    if partner.connection_state == ConnectionState.OFFLINE and message.message_type not in OFFLINE_ALLOWED_TYPES:
        return "waiting: partner is offline until a new handshake"
    blocker = (
        Message.objects.filter(
            partner_id=partner.id,
            direction=MessageDirection.OUTBOUND,
            message_type__in=ORDERED_TYPES,
            status__in=UNSENT,
            id__lt=message.id,
        )
        .order_by("id")
        .first()
    )
    if blocker:
        return f"waiting: earlier {blocker.message_type} {blocker.request_id} to this partner is not sent yet"
    return ""


def _claim(message_id: int) -> tuple[Message, int] | None:
    now = timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True)
            .filter(id=message_id, direction=MessageDirection.OUTBOUND, next_attempt_at__lte=now)
            .filter(status__in=(*RETRYABLE, MessageStatus.SENDING))
            .first()
        )
        if message is None:
            return None  # sent, dead, not due yet, or another worker has it
        if message.deadline and now >= message.deadline:
            _finish(message, MessageStatus.DEAD, error=_join(message.error, "deadline passed before it could be sent"))
            return None
        if message.partner_id:
            partner = Partner.objects.get(id=message.partner_id)
            reason = _hold_reason(message, partner)
            if reason:
                if message.status == MessageStatus.SENDING:
                    message.status = MessageStatus.PENDING
                message.error = reason
                message.save(update_fields=["status", "error"])
                return None
        if message.status == MessageStatus.SENDING:
            logger.warning("Message %s was still sending after its lease (worker lost?): sending again", message.id)
        message.status = MessageStatus.SENDING
        message.attempts += 1
        message.next_attempt_at = now + timedelta(seconds=settings.OSCP_OUTBOX_STUCK_SECONDS)
        message.save(update_fields=["status", "attempts", "next_attempt_at"])
    # Fresh related rows for sending (not locked).
    message = Message.objects.select_related("partner", "webhook").get(id=message.id)
    return message, message.attempts


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def message_deliver(*, message_id: int) -> None:
    """Claim, send and record one outbound message (called by ``connections.message_send``)."""
    claimed = _claim(message_id)
    if claimed is None:
        return
    message, attempt = claimed
    try:
        delivery = client.message_post(message=message)
    except client.PartnerPermanentError as exc:
        _record(message_id, attempt, delivery=exc.delivery, error=str(exc), retry=False)
    except client.PartnerTemporaryError as exc:
        _record(message_id, attempt, delivery=exc.delivery, error=str(exc), retry=True)
    else:
        _record(message_id, attempt, delivery=delivery, error="", retry=False)


@transaction.atomic
def _record(message_id: int, attempt: int, *, delivery: client.Delivery, error: str, retry: bool) -> None:
    message = Message.objects.select_for_update().get(id=message_id)
    if message.status != MessageStatus.SENDING or message.attempts != attempt:
        logger.warning("Message %s: outcome of attempt %s ignored (row moved on)", message_id, attempt)
        return
    now = timezone.now()
    message.url = delivery.url or message.url
    message.headers = delivery.headers or message.headers
    message.http_status = delivery.status
    message.duration_ms = delivery.duration_ms
    if not error:
        _finish(message, MessageStatus.SENT, error="")
        return
    if not retry:
        _finish(message, MessageStatus.DEAD, error=error)
        return
    if message.deadline and now >= message.deadline:
        _finish(message, MessageStatus.DEAD, error=f"deadline passed after {attempt} attempts; last: {error}")
        return
    next_at = now + timedelta(seconds=retry_delay(attempt))
    if message.deadline:
        next_at = min(next_at, message.deadline)
    message.status = MessageStatus.PENDING
    message.error = error
    message.next_attempt_at = next_at
    message.save()
    _queue(message.id, countdown=(next_at - now).total_seconds())


def _finish(message: Message, status: str, *, error: str) -> None:
    """Final outcome (sent or dead), then the message-type hooks, in the caller's transaction."""
    message.status = status
    message.error = error
    message.completed_at = timezone.now()
    message.save()
    logger.info("Message %s %s %s: %s %s", message.id, message.message_type, message.request_id, status, error)
    _after_outcome(message)


# --- message-type hooks ------------------------------------------------------------------------
def _after_outcome(message: Message) -> None:
    if message.partner_id is None:
        return
    if message.message_type in ORDERED_TYPES:
        _release_followers(message)
    if message.message_type == "register":
        _register_outcome(message)
    elif message.message_type == "handshake" and message.status == MessageStatus.DEAD:
        partner = partner_lock(message.partner_id)
        partner.connection_state_reason = f"handshake {message.request_id} failed: {message.error}"[:255]
        partner._change_reason = partner.connection_state_reason
        partner.save(update_fields=["connection_state_reason", "modified"])


def _register_outcome(message: Message) -> None:
    """Our register, or (with a correlation id) our reply to the partner's. Dead → failed (the
    inbound services decide the details). Our reply accepted → registered, and for an optimizer
    our handshake starts; our own register accepted → the partner will register back (inbound)."""
    from .inbound import registration_failed, registration_reply_accepted

    if message.status == MessageStatus.DEAD:
        registration_failed(message=message)
        return
    if not message.correlation_id:
        return
    registration_reply_accepted(message=message)
    partner = Partner.objects.get(id=message.partner_id)
    if partner.role == PartnerRole.CAPACITY_OPTIMIZER and partner.registration_status == RegistrationStatus.REGISTERED:
        from .outbound import partner_handshake_start

        partner_handshake_start(partner=partner)


def _release_followers(message: Message) -> None:
    """Queue the messages that waited behind a register/handshake message to the same partner."""
    outbox_release(partner_id=message.partner_id, after_id=message.id)


# --- services ----------------------------------------------------------------------------------
def outbox_release(*, partner_id: int, after_id: int = 0) -> int:
    """Queue every due unsent message to a partner (back online, enabled again, or no longer
    waiting behind message ``after_id``)."""
    ids = list(
        Message.objects.filter(
            partner_id=partner_id,
            direction=MessageDirection.OUTBOUND,
            status__in=RETRYABLE,
            id__gt=after_id,
            next_attempt_at__lte=timezone.now(),
        ).values_list("id", flat=True)
    )
    for message_id in ids:
        _queue(message_id)
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
    now = timezone.now()
    message.status = MessageStatus.PENDING
    message.next_attempt_at = now
    message.deadline = now + timedelta(seconds=settings.OSCP_MESSAGE_DEADLINE_SECONDS)
    message.completed_at = None
    message.error = _join("retry requested", message.error)[:2000]
    message.save()
    _queue(message.id)
    return message


@transaction.atomic
def outbox_sweep(*, now=None, batch: int = 500) -> int:
    """Re-queue overdue pending rows and ``sending`` rows whose lease ran out; returns how many."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.OSCP_OUTBOX_SWEEP_GRACE_SECONDS)
    overdue = Q(status__in=RETRYABLE, next_attempt_at__lte=now - grace) | Q(
        status=MessageStatus.SENDING, next_attempt_at__lte=now
    )
    offline = Q(partner__connection_state=ConnectionState.OFFLINE) & ~Q(message_type__in=OFFLINE_ALLOWED_TYPES)
    disabled = Q(partner__enabled=False) | Q(partner__connection_state=ConnectionState.DISABLED)
    waiting = (offline | disabled) & Q(deadline__gt=now)  # held; swept again only to die at the deadline
    ids = list(
        Message.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(direction=MessageDirection.OUTBOUND)
        .filter(overdue)
        .exclude(waiting)
        .order_by("id")
        .values_list("id", flat=True)[:batch]
    )
    for message_id in ids:
        _queue(message_id)
    if ids:
        logger.info("Outbox sweep re-queued %s messages", len(ids))
    return len(ids)
