"""Services for what we start: registering with a partner, starting a handshake, sending
heartbeats, and marking partners offline when theirs stop. Everything leaves through the outbox
(``outbox.outbox_enqueue``); state changes go through ``lifecycle.partner_transition``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .choices import ConnectionState, HandshakeInitiator, MessageType, RegistrationMode, RegistrationStatus
from .client import call_refusal
from .inbound import registration_send
from .lifecycle import OFFLINE_CHECK_STATES, partner_lock, partner_offline_mark, partner_transition
from .models import Message, Partner
from .oscp.serializers import behaviour_wire, wire_time
from .outbox import outbox_enqueue, outbox_enqueue_many, outbox_message

logger = logging.getLogger(__name__)

HEARTBEAT_STATES = (ConnectionState.REGISTERED, ConnectionState.HANDSHAKING, ConnectionState.ONLINE)


@transaction.atomic
def partner_register(*, partner: Partner) -> Message:
    """We register first: issue the token the partner will call us with and send it in
    ``register``, authenticated with the initial token the partner gave us."""
    partner = partner_lock(partner)
    if not partner.enabled:
        raise ValidationError({"enabled": "The partner is disabled."})
    if partner.registration_mode == RegistrationMode.OUT_OF_BAND:
        raise ValidationError(
            {"registrationMode": "This partner is registered out of band: no register message is ever sent."}
        )
    if not partner.partner_token:
        raise ValidationError({"partnerToken": "Set the token the partner gave us before registering."})
    return registration_send(partner=partner, reason="registering: register sent")


def required_behaviour(partner: Partner) -> dict:
    """What we require of the partner, on the wire."""
    return behaviour_wire(
        heartbeat_interval=partner.required_heartbeat_seconds or None,
        measurement_configuration=partner.required_measurement_styles or [],
    )


@transaction.atomic
def partner_handshake_start(*, partner: Partner, behaviour: dict | None = None) -> Message:
    """Send ``handshake`` with what we require (the partner's profile, or ``behaviour`` in wire
    form when the caller names it); handshaking until the acknowledgement arrives."""
    partner = partner_lock(partner)
    if not partner.enabled:
        raise ValidationError({"enabled": "The partner is disabled."})
    if partner.handshake_initiator == HandshakeInitiator.THEY:
        raise ValidationError({"handshakeInitiator": "This partner starts the handshake; we do not."})
    if partner.connection_state in (ConnectionState.REGISTERING, ConnectionState.FAILED, ConnectionState.DISABLED):
        raise ValidationError(
            {"connectionState": f"A handshake needs a registered partner (this one is {partner.connection_state})."}
        )
    refusal = call_refusal(partner)
    if refusal:
        raise ValidationError({"partnerToken": f"A handshake cannot be sent: {refusal}"})
    if partner.offline_mode_at and partner.offline_mode_at <= timezone.now():
        partner.offline_mode_at = None  # a new heartbeat period starts with the handshake
    partner_transition(partner=partner, to=ConnectionState.HANDSHAKING, reason="handshake sent")
    return outbox_enqueue(
        partner=partner,
        message_type=MessageType.HANDSHAKE,
        body={"required_behaviour": required_behaviour(partner) if behaviour is None else behaviour},
    )


@transaction.atomic
def handshake_failed(*, message: Message) -> None:
    """Our handshake died: the partner's state stays, the reason says why."""
    partner = partner_lock(message.partner_id)
    partner.connection_state_reason = f"handshake {message.request_id} failed: {message.error}"[:255]
    partner._change_reason = partner.connection_state_reason
    partner.save(update_fields=["connection_state_reason", "modified"])


def heartbeat_interval(partner: Partner) -> float | None:
    """The interval the partner asked for in its handshake (seconds), or None."""
    value = (partner.settings or {}).get("heartbeatSeconds")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def heartbeats_due():
    """Partners that get heartbeats, due or not: registered, enabled, with an interval negotiated.
    One whose schedule is not set yet (``next_heartbeat_at`` empty) is due at once."""
    return Partner.objects.filter(
        enabled=True,
        registration_status=RegistrationStatus.REGISTERED,
        connection_state__in=HEARTBEAT_STATES,
    ).filter(Q(next_heartbeat_at__isnull=False) | Q(settings__has_key="heartbeatSeconds"))


@transaction.atomic
def heartbeats_dispatch_batch(*, now: datetime, batch: int) -> tuple[int, int]:
    """One batch of due heartbeats in three statements: the due partners locked with
    ``SKIP LOCKED`` (another dispatcher's rows are skipped, never waited for), their schedules
    moved on in one UPDATE, the heartbeats inserted in one INSERT and published on commit.

    The schedule keeps its phase (next = due + interval), so partners stay spread over the interval;
    one that fell a whole interval behind starts again from now. Bookkeeping only: no history."""
    due = list(
        heartbeats_due()
        .select_for_update(skip_locked=True)
        .filter(Q(next_heartbeat_at__lte=now) | Q(next_heartbeat_at__isnull=True))
        .order_by("next_heartbeat_at", "id")
        .only("id", "settings", "next_heartbeat_at")[:batch]
    )
    messages, scheduled = [], []
    for partner in due:
        interval = heartbeat_interval(partner)
        if interval is None:  # asked for none (or nonsense): no schedule
            partner.next_heartbeat_at = None
            scheduled.append(partner)
            continue
        step = timedelta(seconds=interval)
        following = (partner.next_heartbeat_at or now) + step
        partner.next_heartbeat_at = following if following > now else now + step
        partner.last_heartbeat_sent_at = now
        scheduled.append(partner)
        offline_at = now + settings.OSCP_OFFLINE_MULTIPLIER * step
        messages.append(
            outbox_message(
                partner=partner,
                message_type=MessageType.HEARTBEAT,
                body={"offline_mode_at": wire_time(offline_at, "milliseconds")},
                deadline=offline_at,
                now=now,
            )
        )
    if scheduled:
        Partner.objects.bulk_update(scheduled, ["next_heartbeat_at", "last_heartbeat_sent_at"])
    outbox_enqueue_many(messages)
    return len(messages), len(due)


def heartbeats_dispatch(*, now: datetime | None = None) -> int:
    """Send a heartbeat to every partner whose negotiated interval has elapsed, in batches of
    ``OSCP_HEARTBEAT_BATCH`` (each its own transaction, so the first go out while the next are
    written). Returns how many were queued."""
    now = now or timezone.now()
    batch = settings.OSCP_HEARTBEAT_BATCH
    queued, claimed = heartbeats_dispatch_batch(now=now, batch=batch)
    total = queued
    while claimed == batch:
        queued, claimed = heartbeats_dispatch_batch(now=now, batch=batch)
        total += queued
    return total


@transaction.atomic
def partners_offline_check(*, now: datetime | None = None) -> int:
    """Partners whose announced ``offline_mode_at`` has passed without a newer heartbeat go
    offline; messages to them wait in the outbox until a new handshake."""
    now = now or timezone.now()
    partners = Partner.objects.select_for_update(skip_locked=True).filter(
        connection_state__in=OFFLINE_CHECK_STATES, offline_mode_at__lt=now
    )
    count = 0
    for partner in partners:
        reason = partner_offline_mark(partner=partner)
        logger.warning("Partner %s offline: %s", partner.id, reason)
        count += 1
    return count
