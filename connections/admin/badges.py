"""How partner and message states look in the admin: coloured badges and links to a partner's page
(its role's admin entry)."""

from django.urls import reverse

from oscp_platform.admin import status_badge

from ..choices import ConnectionState, MessageStatus, PartnerRole

STATE_TONES = {
    ConnectionState.ONLINE: "ok",
    ConnectionState.REGISTERED: "info",
    ConnectionState.HANDSHAKING: "info",
    ConnectionState.REGISTERING: "info",
    ConnectionState.NEW: "muted",
    ConnectionState.OFFLINE: "bad",
    ConnectionState.FAILED: "bad",
    ConnectionState.DISABLED: "muted",
}
MESSAGE_TONES = {
    MessageStatus.ACCEPTED: "ok",
    MessageStatus.SENT: "ok",
    MessageStatus.PENDING: "info",
    MessageStatus.SENDING: "info",
    MessageStatus.FAILED: "warn",
    MessageStatus.DEAD: "bad",
    MessageStatus.REJECTED: "bad",
    MessageStatus.DUPLICATE: "muted",
    MessageStatus.SEGMENT: "muted",
}


def state_badge(state: str) -> str:
    return status_badge(state, STATE_TONES.get(state, "muted"))


def message_badge(status: str) -> str:
    return status_badge(status, MESSAGE_TONES.get(status, "muted"))


def partner_change_url(partner) -> str:
    name = (
        "admin:connections_capacityprovider_change"
        if partner.role == PartnerRole.CAPACITY_PROVIDER
        else "admin:connections_capacityoptimizer_change"
    )
    return reverse(name, args=[partner.pk])
