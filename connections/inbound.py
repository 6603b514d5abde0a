"""Writes caused by OSCP messages partners send us: registration, handshake, heartbeat, relays to
the provider, segmented messages, and the retention of the message log. Called by the message
handlers (``connections/oscp/handlers.py``) and periodic tasks."""

import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from oscp_platform.crypto import mask, token_digest

from .choices import (
    ConnectionState,
    HandshakeInitiator,
    MessageDirection,
    MessageStatus,
    MessageType,
    RegistrationMode,
    RegistrationStatus,
    TokenKind,
)
from .lifecycle import (
    partner_is_offline,
    partner_lock,
    partner_offline_mark,
    partner_transition,
    partner_transition_or_note,
)
from .models import Message, MessageSegment, Partner
from .oscp.serializers import behaviour_settings, behaviour_wire
from .outbox import outbox_enqueue
from .services import inbound_token_issue

# States in which a partner counts as registered (by the register flow or out of band).
REGISTERED_STATES = {
    ConnectionState.REGISTERED,
    ConnectionState.HANDSHAKING,
    ConnectionState.ONLINE,
    ConnectionState.OFFLINE,
}


class PartnerNotRegistered(Exception):
    """A handshake (or acknowledgement) from a partner that has not completed registration."""


class NotForThisPartner(Exception):
    """A message the partner's connection profile says it does not send us (403, the text says why)."""


def partner_is_registered(partner: Partner) -> bool:
    if partner.connection_state in REGISTERED_STATES:
        return True
    return (
        partner.connection_state == ConnectionState.NEW and partner.registration_status == RegistrationStatus.REGISTERED
    )


def _registration_is_reply(*, partner: Partner, presented_token: str, correlation_id: str) -> bool:
    """True when this register answers one we started: its X-Correlation-ID names our register,
    or, while our registration is pending, the partner presents the token our register gave it.
    Such a register is never answered, so two parties never ping-pong."""
    if (
        correlation_id
        and partner.messages.filter(
            direction=MessageDirection.OUTBOUND, message_type=MessageType.REGISTER, request_id=correlation_id
        ).exists()
    ):
        return True
    if partner.registration_status != RegistrationStatus.PENDING:
        return False
    return partner.inbound_tokens.filter(
        digest=token_digest(presented_token), kind=TokenKind.REGISTRATION, retired_at__isnull=True
    ).exists()


def _tokens_retire(*, partner: Partner, keep_digest: str | None = None, only_digest: str | None = None) -> int:
    live = partner.inbound_tokens.filter(retired_at__isnull=True)
    if only_digest is not None:
        live = live.filter(digest=only_digest)
    if keep_digest is not None:
        live = live.exclude(digest=keep_digest)
    return live.update(retired_at=timezone.now())


@transaction.atomic
def register_receive(
    *, partner: Partner, token: str, base_url: str, request_id: str, presented_token: str, correlation_id: str = ""
) -> Message | None:
    """A partner registered with us: keep its token (encrypted) and base URL. If it answers our
    own register, registration is complete; otherwise issue our next token and queue our reply
    (the token the partner used stays live until that reply is accepted). Returns the reply."""
    partner = partner_lock(partner)
    if partner.registration_mode == RegistrationMode.OUT_OF_BAND:
        raise NotForThisPartner("register: this partner is registered out of band (no register exchange).")
    is_reply = _registration_is_reply(partner=partner, presented_token=presented_token, correlation_id=correlation_id)
    if not is_reply and partner.registration_mode == RegistrationMode.WE_REGISTER_FIRST:
        raise NotForThisPartner(
            "register: we register first with this partner; a register must answer ours (X-Correlation-ID)."
        )
    partner.partner_token = token
    partner.base_url = base_url
    partner.oscp_version = "2.0"
    if is_reply:
        _tokens_retire(partner=partner, keep_digest=token_digest(presented_token))
        partner.registration_status = RegistrationStatus.REGISTERED
        partner_transition_or_note(
            partner=partner,
            to=ConnectionState.REGISTERED,
            reason="registration completed: partner answered our register",
        )
        return None
    return registration_send(
        partner=partner, reason="register received; replying with a new token", correlation_id=request_id
    )


def registration_send(*, partner: Partner, reason: str, correlation_id: str = "") -> Message:
    """Issue the token the partner will call us with and queue ``register`` carrying it (our own
    register, or with ``correlation_id`` our reply to the partner's); registering. The caller
    holds the partner row locked. The message log shows the token masked; the encrypted sealed
    body carries it."""
    our_token = inbound_token_issue(partner=partner, kind=TokenKind.REGISTRATION)
    version_url = [{"version": "2.0", "base_url": settings.OSCP_PUBLIC_BASE_URL}]
    partner.registration_status = RegistrationStatus.PENDING
    partner_transition(partner=partner, to=ConnectionState.REGISTERING, reason=reason)
    return outbox_enqueue(
        partner=partner,
        message_type=MessageType.REGISTER,
        body={"token": mask(our_token), "version_url": version_url},
        sealed_body=json.dumps({"token": our_token, "version_url": version_url}),
        correlation_id=correlation_id,
    )


def _reply_token_digest(message: Message) -> str | None:
    try:
        return token_digest(json.loads(message.sealed_body)["token"])
    except (ValueError, KeyError, TypeError):
        return None


@transaction.atomic
def registration_reply_accepted(*, message: Message) -> None:
    """Our register reply got a 2xx: the token in it is now the only live one; Registered."""
    partner = partner_lock(message.partner)
    keep = _reply_token_digest(message)
    _tokens_retire(partner=partner, keep_digest=keep)
    partner.registration_status = RegistrationStatus.REGISTERED
    partner_transition_or_note(
        partner=partner,
        to=ConnectionState.REGISTERED,
        reason=f"registration completed: reply {message.request_id} accepted",
    )


@transaction.atomic
def registration_failed(*, message: Message) -> None:
    """Our register, or our reply to the partner's (it has a correlation id), failed for good: the
    token in it never reached the partner, so it is retired; Failed."""
    partner = partner_lock(message.partner)
    digest = _reply_token_digest(message)
    if digest:
        _tokens_retire(partner=partner, only_digest=digest)
    partner.registration_status = RegistrationStatus.FAILED
    what = "registration reply" if message.correlation_id else "register"
    reason = f"{what} {message.request_id} failed: {message.error or 'permanent error'}"
    partner_transition_or_note(partner=partner, to=ConnectionState.FAILED, reason=reason)


def _behaviour_store(partner: Partner, behaviour: dict) -> None:
    """RequiredBehaviour (wire) into the partner's settings; our heartbeats start at once at the
    interval it asked for (or stop when it asked for none)."""
    partner.settings = behaviour_settings(behaviour, partner.settings)
    partner.next_heartbeat_at = timezone.now() if "heartbeatSeconds" in partner.settings else None


@transaction.atomic
def handshake_receive(*, partner: Partner, behaviour: dict | None, request_id: str) -> Message:
    """A handshake: store the behaviour the partner requires of us, go online, queue our
    acknowledgement (X-Correlation-ID = the handshake's request id)."""
    partner = partner_lock(partner)
    if not partner_is_registered(partner):
        raise PartnerNotRegistered(partner.connection_state)
    if partner.handshake_initiator == HandshakeInitiator.WE:
        raise NotForThisPartner("handshake: with this partner we start the handshake; wait for ours.")
    _behaviour_store(partner, behaviour or {})
    _handshake_complete(partner, reason="handshake received")
    return outbox_enqueue(
        partner=partner,
        message_type=MessageType.HANDSHAKE_ACKNOWLEDGE,
        body=acknowledgement_body(partner),
        correlation_id=request_id,
    )


DEFAULT_ACKNOWLEDGEMENT_HEARTBEAT_SECONDS = 60


def acknowledgement_body(partner: Partner) -> dict:
    """Our handshake acknowledgement: ``{}`` (the reference), or, for partners that read it from
    every acknowledgement (pyoscp), our ``required_behaviour`` with the heartbeat interval we want."""
    if not partner.acknowledge_with_behaviour:
        return {}
    interval = partner.required_heartbeat_seconds or DEFAULT_ACKNOWLEDGEMENT_HEARTBEAT_SECONDS
    return {
        "required_behaviour": behaviour_wire(
            heartbeat_interval=interval, measurement_configuration=partner.required_measurement_styles or []
        )
    }


@transaction.atomic
def handshake_acknowledge_receive(*, partner: Partner, behaviour: dict | None) -> bool:
    """The partner acknowledged our handshake: online. Returns False when no handshake of ours
    was pending (the acknowledgement is stored, the state kept)."""
    partner = partner_lock(partner)
    if not partner_is_registered(partner):
        raise PartnerNotRegistered(partner.connection_state)
    if behaviour is not None:
        _behaviour_store(partner, behaviour)
    if partner.connection_state != ConnectionState.HANDSHAKING:
        partner._change_reason = "handshake acknowledgement received with no handshake pending"
        partner.save()
        return False
    _handshake_complete(partner, reason="handshake acknowledged")
    return True


def _handshake_complete(partner: Partner, *, reason: str) -> None:
    """Online; a new heartbeat period starts with the handshake (the old offline_mode_at goes)."""
    partner.handshake_completed_at = timezone.now()
    partner.offline_mode_at = None
    partner_transition(partner=partner, to=ConnectionState.ONLINE, reason=reason)


@transaction.atomic
def heartbeat_receive(*, partner: Partner, offline_mode_at) -> None:
    """Record a heartbeat. An offline partner stays offline until it handshakes again; one whose
    last ``offline_mode_at`` passed before this heartbeat came is marked offline first (whether
    or not the periodic check got to it), so a late heartbeat never brings a partner back."""
    partner = partner_lock(partner)
    now = timezone.now()
    if partner.connection_state != ConnectionState.OFFLINE and partner_is_offline(partner, now=now):
        partner_offline_mark(partner=partner)
    partner.offline_mode_at = offline_mode_at
    partner.last_heartbeat_received_at = now
    if partner.connection_state == ConnectionState.OFFLINE:
        reason = "heartbeat received while offline; a new handshake is required"
        if partner.connection_state_reason != reason:
            partner.connection_state_reason = reason
            partner._change_reason = reason
            partner.save()
            return
    # Routine bookkeeping: one UPDATE, no history row (history keeps configuration and state).
    Partner.objects.filter(pk=partner.pk).update(offline_mode_at=offline_mode_at, last_heartbeat_received_at=now)


def message_relay_to_provider(
    *, group, message_type: str, body: dict, request_id: str, correlation_id: str = ""
) -> Message:
    """Queue a Capacity Optimizer's message for the group's Capacity Provider, keeping the
    optimizer's request id (and correlation id) so both ends can match it."""
    return outbox_enqueue(
        partner=group.capacity_provider,
        group=group,
        message_type=message_type,
        body=body,
        request_id=request_id,
        correlation_id=correlation_id,
    )


class SegmentConflict(Exception):
    """A part that does not fit the parts already received for the same request id."""


@transaction.atomic
def segment_store(
    *, partner: Partner, message_type: str, request_id: str, index: int, count: int, body: str
) -> str | None:
    """Keep one part of a segmented message. When all parts are in (indexes 0..count-1 or
    1..count), delete them and return the bodies joined in index order; else return None.
    The partner row is locked so parts arriving together are counted one after the other."""
    partner_lock(partner)
    parts = list(MessageSegment.objects.filter(partner=partner, request_id=request_id))
    for part in parts:
        if part.count != count or part.message_type != message_type:
            raise SegmentConflict(
                f"Earlier parts of this X-Request-ID were {part.message_type} with X-Segment-Count {part.count}."
            )
    indexes = {part.index for part in parts}
    if index in indexes:
        raise SegmentConflict(f"Part {index} was already received.")
    if (index == 0 and count in indexes) or (index == count and 0 in indexes):
        raise SegmentConflict("Parts must be numbered 0..count-1 or 1..count, not both.")
    expires_at = min(
        [part.expires_at for part in parts],
        default=timezone.now() + timedelta(seconds=settings.OSCP_SEGMENT_EXPIRY_SECONDS),
    )
    part = MessageSegment.objects.create(
        partner=partner,
        message_type=message_type,
        request_id=request_id,
        index=index,
        count=count,
        body=body,
        expires_at=expires_at,
    )
    parts.append(part)
    if len(parts) < count:
        return None
    MessageSegment.objects.filter(pk__in=[p.pk for p in parts]).delete()
    return "".join(p.body for p in sorted(parts, key=lambda p: p.index))


@transaction.atomic
def segments_discard(*, partner: Partner, request_id: str) -> int:
    return MessageSegment.objects.filter(partner=partner, request_id=request_id).delete()[0]


@transaction.atomic
def segments_expire(*, now=None) -> int:
    """Delete parts of segmented messages that never completed in time."""
    now = now or timezone.now()
    return MessageSegment.objects.filter(expires_at__lte=now).delete()[0]


# Outbound rows still to be sent are never pruned.
UNFINISHED_OUTBOUND = [MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.FAILED]


@transaction.atomic
def messages_prune(*, now=None) -> int:
    """Delete message log rows older than OSCP_MESSAGE_RETENTION_DAYS."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OSCP_MESSAGE_RETENTION_DAYS)
    old = Message.objects.filter(created__lt=cutoff).exclude(
        direction=MessageDirection.OUTBOUND, status__in=UNFINISHED_OUTBOUND
    )
    return old.delete()[0]
