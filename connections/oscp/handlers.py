"""What the connection lifecycle does with its OSCP messages: registration, handshakes and
heartbeats in, and the outcome of our own register and handshake messages. Registered with the
message registry from ``ConnectionsConfig.ready()``."""

from connections import inbound, outbound
from connections.choices import HandshakeInitiator, MessageType, PartnerRole, RegistrationStatus
from connections.models import Message

from .authentication import OscpError
from .messages import handles
from .pipeline import Inbound

SUPPORTED_VERSION = "2.0"


def register_received(inbound_message: Inbound, message: Message) -> None:
    data = inbound_message.data
    chosen = [entry for entry in data["version_url"] if entry["version"].strip() == SUPPORTED_VERSION]
    if not chosen:
        offered = ", ".join(entry["version"] for entry in data["version_url"])
        raise OscpError(501, f"No common OSCP version: we support {SUPPORTED_VERSION}, offered {offered}.")
    inbound.register_receive(
        partner=inbound_message.partner,
        token=data["token"],
        base_url=chosen[0]["base_url"],
        request_id=inbound_message.request_id,
        presented_token=inbound_message.token,
        correlation_id=inbound_message.correlation_id,
    )


def handshake_received(inbound_message: Inbound, message: Message) -> None:
    inbound.handshake_receive(
        partner=inbound_message.partner,
        behaviour=inbound_message.data["required_behaviour"],
        request_id=inbound_message.request_id,
    )


def handshake_acknowledge_received(inbound_message: Inbound, message: Message) -> None:
    completed = inbound.handshake_acknowledge_receive(
        partner=inbound_message.partner, behaviour=inbound_message.data["required_behaviour"]
    )
    if not completed:
        inbound_message.deviations.append("no handshake of ours was pending")


def heartbeat_received(inbound_message: Inbound, message: Message) -> None:
    inbound.heartbeat_receive(partner=inbound_message.partner, offline_mode_at=inbound_message.data["offline_mode_at"])


def register_delivered(message: Message) -> None:
    """Our reply to the partner's register was accepted: registered, and we start the handshake
    with an optimizer. (Our own register accepted: the partner will register back.)"""
    if not message.correlation_id:
        return
    inbound.registration_reply_accepted(message=message)
    partner = message.partner
    partner.refresh_from_db()
    if (
        partner.role == PartnerRole.CAPACITY_OPTIMIZER
        and partner.registration_status == RegistrationStatus.REGISTERED
        and partner.handshake_initiator != HandshakeInitiator.THEY
    ):
        outbound.partner_handshake_start(partner=partner)


def register_dead(message: Message) -> None:
    inbound.registration_failed(message=message)


def handshake_dead(message: Message) -> None:
    outbound.handshake_failed(message=message)


def register() -> None:
    handles(MessageType.REGISTER, receive=register_received, delivered=register_delivered, dead=register_dead)
    handles(MessageType.HANDSHAKE, receive=handshake_received, dead=handshake_dead)
    handles(MessageType.HANDSHAKE_ACKNOWLEDGE, receive=handshake_acknowledge_received)
    handles(MessageType.HEARTBEAT, receive=heartbeat_received)
