"""Services for what we start: registering with a partner, starting a handshake, sending
heartbeats, and marking partners offline when theirs stop. Everything leaves through the outbox
(``services.outbox_enqueue``); state changes go through ``lifecycle.partner_transition``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .choices import ConnectionState, MeasurementStyle, RegistrationStatus
from .inbound import registration_send
from .lifecycle import OFFLINE_CHECK_STATES, partner_lock, partner_offline_mark, partner_transition
from .models import Message, Partner
from .oscp.serializers import wire_time
from .services import outbox_enqueue

logger = logging.getLogger(__name__)

WIRE_STYLES = {MeasurementStyle.CONTINUOUS: "CONTINUOUS", MeasurementStyle.INTERMITTENT: "INTERMITTENT"}
HEARTBEAT_STATES = (ConnectionState.REGISTERED, ConnectionState.HANDSHAKING, ConnectionState.ONLINE)


@transaction.atomic
def partner_register(*, partner: Partner) -> Message:
    """We register first: issue the token the partner will call us with and send it in
    ``register``, authenticated with the initial token the partner gave us."""
    partner = partner_lock(partner)
    if not partner.enabled:
        raise ValidationError({"enabled": "The partner is disabled."})
    if not partner.partner_token:
        raise ValidationError({"partnerToken": "Set the token the partner gave us before registering."})
    return registration_send(partner=partner, reason="registering: register sent")


def required_behaviour(partner: Partner) -> dict:
    """What we require of the partner, on the wire."""
    behaviour: dict = {}
    if partner.required_heartbeat_seconds:
        behaviour["heartbeat_interval"] = partner.required_heartbeat_seconds
    styles = [WIRE_STYLES.get(s, str(s).upper()) for s in partner.required_measurement_styles or []]
    behaviour["measurement_configuration"] = list(dict.fromkeys(styles))
    return behaviour


@transaction.atomic
def partner_handshake_start(*, partner: Partner, behaviour: dict | None = None) -> Message:
    """Send ``handshake`` with what we require (the partner's profile, or ``behaviour`` in wire
    form when the caller names it); handshaking until the acknowledgement arrives."""
    partner = partner_lock(partner)
    if not partner.enabled:
        raise ValidationError({"enabled": "The partner is disabled."})
    if partner.connection_state in (ConnectionState.REGISTERING, ConnectionState.FAILED, ConnectionState.DISABLED):
        raise ValidationError(
            {"connectionState": f"A handshake needs a registered partner (this one is {partner.connection_state})."}
        )
    if partner.offline_mode_at and partner.offline_mode_at <= timezone.now():
        partner.offline_mode_at = None  # a new heartbeat period starts with the handshake
    partner_transition(partner=partner, to=ConnectionState.HANDSHAKING, reason="handshake sent")
    return outbox_enqueue(
        partner=partner,
        message_type="handshake",
        body={"required_behaviour": required_behaviour(partner) if behaviour is None else behaviour},
    )


def heartbeat_interval(partner: Partner) -> float | None:
    """The interval the partner asked for in its handshake (seconds), or None."""
    value = (partner.settings or {}).get("heartbeatSeconds")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def heartbeat_send(*, partner: Partner, now: datetime | None = None) -> Message:
    """One heartbeat (in the caller's transaction, the partner row locked by the caller)."""
    now = now or timezone.now()
    offline_at = now + timedelta(seconds=settings.OSCP_OFFLINE_MULTIPLIER * heartbeat_interval(partner))
    partner.last_heartbeat_sent_at = now
    partner.save(update_fields=["last_heartbeat_sent_at", "modified"])
    return outbox_enqueue(
        partner=partner,
        message_type="heartbeat",
        body={"offline_mode_at": wire_time(offline_at, "milliseconds")},
        deadline=offline_at,
    )


def heartbeats_due(*, now: datetime):
    """Partners that should get a heartbeat now, locked (rows other workers hold are skipped)."""
    candidates = (
        Partner.objects.select_for_update(skip_locked=True)
        .filter(
            enabled=True,
            registration_status=RegistrationStatus.REGISTERED,
            connection_state__in=HEARTBEAT_STATES,
            settings__has_key="heartbeatSeconds",
        )
        .order_by("id")
    )
    for partner in candidates:
        interval = heartbeat_interval(partner)
        if interval is None:
            continue
        if (
            partner.last_heartbeat_sent_at is None
            or partner.last_heartbeat_sent_at + timedelta(seconds=interval) <= now
        ):
            yield partner


@transaction.atomic
def heartbeats_dispatch(*, now: datetime | None = None) -> int:
    """Send a heartbeat to every partner whose negotiated interval has elapsed. Each partner row
    is locked while its heartbeat is written, so two dispatchers never send the same one."""
    now = now or timezone.now()
    sent = 0
    for partner in heartbeats_due(now=now):
        heartbeat_send(partner=partner, now=now)
        sent += 1
    return sent


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
