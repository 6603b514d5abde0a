"""The registry of OSCP 2.0 messages: every rule about one message type, declared once, as data.

``MESSAGES`` says, per message: its path (and the other spellings it is served at), which partner
roles may send it to us, whether it flows while the partner is offline (both ways: we accept it
from an offline partner, and the outbox sends it to one), whether later messages to the same
partner wait behind ours (``ordered``), whether it names a group, which fields the message log
masks, and its wire serializer (``connections/oscp/serializers.py``).

What happens with a message is registered by the app whose data it changes, from its
``AppConfig.ready()`` (``handles``): ``receive`` (inbound, inside the request's transaction, after
the shared pipeline accepted it), ``delivered`` and ``dead`` (outcome of our copy, in the outbox's
transaction), and ``find_group`` (how to find the group when the body has no ``group_id``).
The pipeline (``connections/oscp/pipeline.py``) and the outbox (``connections/outbox.py``) only
dispatch through here. Adding a message: a ``MessageType``, one entry below, one ``handles`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers

from connections.choices import MessageType, PartnerRole

from . import serializers as wire

CP, CO = PartnerRole.CAPACITY_PROVIDER, PartnerRole.CAPACITY_OPTIMIZER

Handler = Callable[..., Any]


@dataclass(frozen=True)
class MessageSpec:
    type: MessageType
    senders: frozenset[str]  # roles that may send it to us; anything else → 403
    serializer: type[serializers.Serializer]
    doc: str
    group_scoped: bool = False  # the body's group_id must be one of the sender's groups (404)
    offline_allowed: bool = False  # flows while the partner is offline
    ordered: bool = False  # sets the connection up: later messages to the partner wait behind it
    segmentable: bool = True
    secret_fields: tuple[str, ...] = ()  # masked in the message log
    aliases: tuple[str, ...] = ()  # other paths it is served at (spellings seen in the field)

    @property
    def path(self) -> str:
        return self.type.value


@dataclass
class Handlers:
    receive: Handler | None = None  # (inbound, message) -> None
    delivered: Handler | None = None  # (message) -> None
    dead: Handler | None = None  # (message) -> None
    find_group: Handler | None = None  # (partner, data, correlation_id) -> group | None


T = MessageType
MESSAGES: dict[MessageType, MessageSpec] = {
    spec.type: spec
    for spec in (
        # "either way, both sides": whoever did not start the registration answers with its own.
        MessageSpec(
            T.REGISTER,
            frozenset({CP, CO}),
            wire.RegisterSerializer,
            "Token exchange: store the partner's token and base URL, reply with our new token.",
            offline_allowed=True,
            ordered=True,
            segmentable=False,  # segments are kept in plain text; a register carries a token
            secret_fields=("token",),
        ),
        # CP→FP by the reference; CO→FP too, since "some partners: either way" (Vector starts either).
        MessageSpec(
            T.HANDSHAKE,
            frozenset({CP, CO}),
            wire.HandshakeSerializer,
            "Store the behaviour the partner requires of us, go online, queue our acknowledgement.",
            offline_allowed=True,
            ordered=True,
        ),
        # CO→FP answers our handshake; a CP answers ours when we start one (either-way partners).
        MessageSpec(
            T.HANDSHAKE_ACKNOWLEDGE,
            frozenset({CP, CO}),
            wire.HandshakeAcknowledgeSerializer,
            "Completes a handshake we started (also served at the field's spellings "
            "``handshake_acknowledgment`` and ``handshake_acknowledgement``).",
            offline_allowed=True,
            ordered=True,
            aliases=("handshake_acknowledgment", "handshake_acknowledgement"),
        ),
        # "to whoever asked for heartbeats": we ask both kinds of partner in our handshakes. An
        # offline partner's heartbeats are recorded but do not bring it back (a handshake does).
        MessageSpec(
            T.HEARTBEAT,
            frozenset({CP, CO}),
            wire.HeartbeatSerializer,
            "Record the partner's ``offline_mode_at``.",
            offline_allowed=True,
        ),
        # CP→FP limits; CO→FP only OPTIMUM (the forecasts handler refuses other types with 403).
        MessageSpec(
            T.UPDATE_GROUP_CAPACITY_FORECAST,
            frozenset({CP, CO}),
            wire.ForecastSerializer,
            "Store a capacity forecast (limits from a Capacity Provider, OPTIMUM from an Optimizer).",
            group_scoped=True,
        ),
        # CO→FP, relayed to the CP. A CP never asks us to adjust: it answers with a new forecast.
        MessageSpec(
            T.ADJUST_GROUP_CAPACITY_FORECAST,
            frozenset({CO}),
            wire.ForecastSerializer,
            "Store an optimizer's adjustment request and relay it to the group's Capacity Provider.",
            group_scoped=True,
        ),
        # Relayed from a CO to the CP; a CP has nothing to be non-compliant with towards us.
        MessageSpec(
            T.GROUP_CAPACITY_COMPLIANCE_ERROR,
            frozenset({CO}),
            wire.ComplianceErrorSerializer,
            "Store an optimizer's compliance error and relay it to the group's Capacity Provider. The "
            "group comes from ``group_id`` if given, else from the forecast X-Correlation-ID names.",
            group_scoped=True,
        ),
        # FP→CP and CO→FP (relayed to the CP); a CP does not report measurements to us.
        MessageSpec(
            T.UPDATE_GROUP_MEASUREMENTS,
            frozenset({CO}),
            wire.GroupMeasurementsSerializer,
            "Validate an optimizer's group measurements and relay them to the Capacity Provider.",
            group_scoped=True,
        ),
        # FP→CO (Vector: FP→CP); a CO may report its assets to us, relayed to the CP. Never from a CP.
        MessageSpec(
            T.UPDATE_ASSET_MEASUREMENTS,
            frozenset({CO}),
            wire.AssetMeasurementsSerializer,
            "Validate an optimizer's asset measurements and relay them to the Capacity Provider.",
            group_scoped=True,
        ),
    )
}

HANDLERS: dict[MessageType, Handlers] = {message_type: Handlers() for message_type in MESSAGES}


def handles(
    message_type: MessageType,
    *,
    receive: Handler | None = None,
    delivered: Handler | None = None,
    dead: Handler | None = None,
    find_group: Handler | None = None,
) -> None:
    """Register what the calling app does with ``message_type`` (from its ``AppConfig.ready()``)."""
    handlers = HANDLERS[MessageType(message_type)]
    for name, handler in (("receive", receive), ("delivered", delivered), ("dead", dead), ("find_group", find_group)):
        if handler is None:
            continue
        if getattr(handlers, name) is not None and getattr(handlers, name) is not handler:
            raise RuntimeError(f"{message_type}: a {name} handler is already registered")
        setattr(handlers, name, handler)


def spec_of(message_type: str) -> MessageSpec | None:
    """The declaration of an OSCP message; None for what the outbox carries besides OSCP (envelope
    webhooks): never ordered, never held for a partner, no outcome handlers."""
    try:
        return MESSAGES[MessageType(message_type)]
    except ValueError:
        return None


def handlers_of(message_type: str) -> Handlers:
    try:
        return HANDLERS[MessageType(message_type)]
    except ValueError:
        return Handlers()


def ordered_types() -> list[str]:
    return [spec.type.value for spec in MESSAGES.values() if spec.ordered]


def offline_allowed_types() -> list[str]:
    return [spec.type.value for spec in MESSAGES.values() if spec.offline_allowed]


# The group of a group-scoped message: set by the groups app (connections knows no groups).
_group_finder: list[Handler] = []


def group_finder_set(finder: Handler) -> None:
    """``finder(partner=, identifier=)`` → the group if ``partner`` is its provider or optimizer."""
    _group_finder[:] = [finder]


def group_find(*, partner, identifier: str):
    if not _group_finder:
        raise RuntimeError("No group finder registered (the groups app is not installed)")
    return _group_finder[0](partner=partner, identifier=identifier)
