"""Reads on partners, their credentials and the message log."""

import hashlib
from datetime import datetime

from django.db.models import Min, Q, QuerySet
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from oscp_platform.crypto import token_digest

from .choices import ConnectionState, MessageDirection, MessageStatus
from .models import Message, Partner
from .oscp.messages import offline_allowed_types

# The partner of a live token, and whether it already had an inbound request with this
# X-Request-ID accepted: what every OSCP request asks first, in one indexed query (the token's
# unique digest, the partial unique index of accepted request ids). Written out rather than built
# by the ORM, which costs several times the query itself on this path.
_PARTNER_FOR_TOKEN = """
SELECT p.*,
       EXISTS (
           SELECT 1 FROM connections_message m
           WHERE m.partner_id = p.id AND m.direction = %s AND m.status = %s AND m.request_id = %s
       ) AS request_seen
FROM connections_partner p JOIN connections_inboundtoken t ON t.partner_id = p.id
WHERE t.digest = %s AND t.retired_at IS NULL
"""


def partner_for_token(*, token: str, request_id: str = "") -> Partner | None:
    """The partner presenting ``token`` if it is live, else None; its ``request_seen`` says
    whether an inbound message with X-Request-ID ``request_id`` from it was already accepted.
    The lookup is by keyed digest: an index probe on a value the caller cannot choose, so timing
    reveals nothing of stored tokens."""
    params = [MessageDirection.INBOUND.value, MessageStatus.ACCEPTED.value, request_id, token_digest(token)]
    return next(iter(Partner.objects.raw(_PARTNER_FOR_TOKEN, params)), None)


def oauth_access_token_find(*, token: str):
    """The django-oauth-toolkit access token ``token`` is, with its application's partner link
    loaded (``application.oscp_client.partner``), or None. Looked up by SHA-256 checksum, as
    django-oauth-toolkit stores it; expired tokens are returned too (the caller tells why it refuses)."""
    checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return (
        get_access_token_model()
        .objects.select_related("application__oscp_client__partner")
        .filter(token_checksum=checksum)
        .first()
    )


def partner_list(*, user, role: str | None = None) -> QuerySet[Partner]:
    """The partners of ``user``'s account (only those playing ``role`` when given)."""
    partners = Partner.objects.filter(owner=user)
    return partners.filter(role=role) if role else partners


def message_list(*, user) -> QuerySet[Message]:
    """The message log of ``user``'s account, newest first: the rows of its partners and the
    webhook deliveries of its groups (without the sealed body)."""
    return (
        Message.objects.filter(Q(partner__owner=user) | Q(partner__isnull=True, group__owner=user))
        .defer("sealed_body", "sealed_headers")
        .order_by("-created", "-id")
    )


def outbound_message_list(*, user) -> QuerySet[Message]:
    """The messages ``user``'s account sent or queued: to its partners, and its groups' webhooks."""
    return Message.objects.filter(
        Q(partner__owner=user) | Q(partner__isnull=True, group__owner=user), direction=MessageDirection.OUTBOUND
    )


def inbound_request_seen(*, partner: Partner, request_id: str) -> bool:
    """Whether an inbound message with this X-Request-ID from this partner was already accepted."""
    return Message.objects.filter(
        partner=partner, direction=MessageDirection.INBOUND, status=MessageStatus.ACCEPTED, request_id=request_id
    ).exists()


def outbox_oldest_due(*, now: datetime | None = None) -> datetime | None:
    """When the longest-waiting outbound message became due: unsent, due, and not held for its
    partner (offline, disabled, or waiting behind a register/handshake). ``None`` when none waits:
    how far this lies in the past is how far the workers are behind."""
    now = now or timezone.now()
    offline = Q(partner__connection_state=ConnectionState.OFFLINE) & ~Q(message_type__in=offline_allowed_types())
    disabled = Q(partner__enabled=False) | Q(partner__connection_state=ConnectionState.DISABLED)
    return (
        Message.objects.filter(
            direction=MessageDirection.OUTBOUND,
            status__in=(MessageStatus.PENDING, MessageStatus.FAILED, MessageStatus.SENDING),
            next_attempt_at__lte=now,
        )
        .exclude((offline | disabled) & Q(deadline__gt=now))
        .exclude(error__startswith="waiting:")
        .aggregate(oldest=Min("next_attempt_at"))["oldest"]
    )
