"""Reads on partners, their credentials and the message log."""

import hashlib

from django.db.models import Q, QuerySet
from oauth2_provider.models import get_access_token_model

from oscp_platform.crypto import token_digest

from .choices import MessageDirection, MessageStatus
from .models import InboundToken, Message, Partner


def partner_for_token(*, token: str) -> Partner | None:
    """The partner presenting ``token`` if it is live, else None. The lookup is by keyed digest:
    an index probe on a value the caller cannot choose, so timing reveals nothing of stored tokens."""
    record = (
        InboundToken.objects.select_related("partner")
        .filter(digest=token_digest(token), retired_at__isnull=True)
        .first()
    )
    return record.partner if record else None


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
        .defer("sealed_body")
        .order_by("-created", "-id")
    )


def outbound_message_list(*, user) -> QuerySet[Message]:
    """The messages ``user``'s account sent or queued: to its partners, and its groups' webhooks."""
    return Message.objects.filter(
        Q(partner__owner=user) | Q(webhook__group__owner=user), direction=MessageDirection.OUTBOUND
    )


def group_for_partner(*, partner: Partner, identifier: str):
    """The group ``identifier`` names if ``partner`` is its Capacity Provider or Optimizer, else
    None: another account's group looks exactly like an unknown one."""
    from groups.models import CapacityGroup

    return (
        CapacityGroup.objects.select_related("capacity_provider")
        .filter(identifier=identifier)
        .filter(Q(capacity_provider=partner) | Q(capacity_optimizer=partner))
        .first()
    )


def group_for_correlation(*, partner: Partner, correlation_id: str):
    """The group of the forecast whose request id is ``correlation_id``, among the partner's groups."""
    from forecasts.models import Forecast

    forecast = (
        Forecast.objects.select_related("group__capacity_provider")
        .filter(request_id=correlation_id)
        .filter(Q(group__capacity_provider=partner) | Q(group__capacity_optimizer=partner))
        .order_by("-received_at")
        .first()
    )
    return forecast.group if forecast else None


def inbound_request_seen(*, partner: Partner, request_id: str) -> bool:
    """Whether an inbound message with this X-Request-ID from this partner was already accepted."""
    return Message.objects.filter(
        partner=partner, direction=MessageDirection.INBOUND, status=MessageStatus.ACCEPTED, request_id=request_id
    ).exists()
