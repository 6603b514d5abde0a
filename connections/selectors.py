"""Reads on partners, their credentials and the message log."""

import hashlib
from datetime import datetime

from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from oscp_platform.crypto import EncryptedTextField, token_digest
from oscp_platform.raw import columns_sql, raw_model

from .choices import ConnectionState, MessageDirection, MessageStatus
from .models import Message, Partner
from .oscp.messages import offline_allowed_types

# The partner of a live token, and whether it already had an inbound request with this
# X-Request-ID accepted: what every OSCP request asks first, in one indexed query (the token's
# unique digest, the partial unique index of accepted request ids). Written out rather than built
# by the ORM, which costs several times the query itself on this path. The direction and status
# are written into the text, not passed: the statement is prepared, and PostgreSQL's generic plan
# for it would not know them, nor so match the partial index, and would read every message the
# partner ever sent. The partner's secrets are not read: decrypting them cost more than the query,
# and a request rarely needs them (they load when read).
_PARTNER_FOR_TOKEN = f"""
SELECT {columns_sql(Partner, "p", without=(EncryptedTextField,))},
       EXISTS (
           SELECT 1 FROM connections_message m
           WHERE m.partner_id = p.id AND m.direction = '{MessageDirection.INBOUND.value}'
               AND m.status = '{MessageStatus.ACCEPTED.value}' AND m.request_id = %s
       ) AS request_seen
FROM connections_partner p JOIN connections_inboundtoken t ON t.partner_id = p.id
WHERE t.digest = %s AND t.retired_at IS NULL
"""


def partner_for_token(*, token: str, request_id: str = "") -> Partner | None:
    """The partner presenting ``token`` if it is live, else None; its ``request_seen`` says
    whether an inbound message with X-Request-ID ``request_id`` from it was already accepted.
    The lookup is by keyed digest: an index probe on a value the caller cannot choose, so timing
    reveals nothing of stored tokens."""
    return raw_model(Partner, _PARTNER_FOR_TOKEN, [request_id, token_digest(token)])


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


# --- The admin dashboard: a few aggregate queries, never one per partner or message -------------
UNSENT = (MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.FAILED)


def partners_by_state() -> list[dict]:
    """Partners counted by role and connection state, with the latest heartbeat each way among
    them (one query)."""
    return list(
        Partner.objects.values("role", "connection_state")
        .annotate(
            count=Count("id"),
            last_received=Max("last_heartbeat_received_at"),
            last_sent=Max("last_heartbeat_sent_at"),
        )
        .order_by()
    )


def partners_needing_attention(*, limit: int = 8) -> list[Partner]:
    """Enabled partners that are not online, most recently changed first (one query)."""
    return list(
        Partner.objects.filter(enabled=True)
        .exclude(connection_state=ConnectionState.ONLINE)
        .only(
            "id",
            "name",
            "role",
            "connection_state",
            "connection_state_reason",
            "connection_state_changed_at",
            "last_heartbeat_received_at",
            "last_heartbeat_sent_at",
        )
        .order_by(F("connection_state_changed_at").desc(nulls_last=True), "id")[:limit]
    )


def outbox_summary(*, since: datetime) -> dict:
    """The outbox in one query: unsent messages (pending, sending, failing), dead ones (all
    kept, and since ``since``), and when the oldest unsent message was written."""
    out = Q(direction=MessageDirection.OUTBOUND)
    recent = Q(created__gte=since)
    return Message.objects.filter(status__in=(*UNSENT, MessageStatus.DEAD)).aggregate(
        pending=Count("id", filter=out & Q(status=MessageStatus.PENDING)),
        sending=Count("id", filter=out & Q(status=MessageStatus.SENDING)),
        failing=Count("id", filter=out & Q(status=MessageStatus.FAILED)),
        dead=Count("id", filter=out & Q(status=MessageStatus.DEAD)),
        dead_recent=Count("id", filter=out & Q(status=MessageStatus.DEAD) & recent),
        oldest_unsent=Min("created", filter=out & Q(status__in=UNSENT)),
    )


def message_errors_count(*, since: datetime) -> dict:
    """How many outbound messages died and inbound ones were rejected since ``since`` (one query)."""
    return Message.objects.filter(created__gte=since).aggregate(
        dead=Count("id", filter=Q(status=MessageStatus.DEAD)),
        rejected=Count("id", filter=Q(status=MessageStatus.REJECTED)),
    )


def messages_recent_errors(*, since: datetime, limit: int = 6) -> list[Message]:
    """The latest dead outbound and rejected inbound messages since ``since``, with their partner
    and group (one query)."""
    return list(
        Message.objects.filter(status__in=(MessageStatus.DEAD, MessageStatus.REJECTED), created__gte=since)
        .select_related("partner", "group")
        .defer("sealed_body", "sealed_headers", "body", "headers")
        .order_by("-created", "-id")[:limit]
    )
