"""Writes on partners, their credentials and the outbox."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from oscp_platform.crypto import token_digest, token_generate

from .choices import MessageDirection, MessageStatus, TokenKind
from .models import InboundToken, Message, Partner


def inbound_token_issue(*, partner: Partner, kind: str = TokenKind.INITIAL) -> str:
    """Create a token the partner will present to us; return the plaintext (shown once)."""
    token = token_generate()
    record = InboundToken.objects.create(partner=partner, digest=token_digest(token), last4=token[-4:], kind=kind)
    if partner.flexibility_provider_id is None:
        partner.flexibility_provider_id = record.id
        partner.save(update_fields=["flexibility_provider_id", "modified"])
    return token


@transaction.atomic
def partner_token_rotate(*, partner: Partner) -> str:
    """Retire every live inbound token of the partner and issue a new initial one (shown once)."""
    partner.inbound_tokens.filter(retired_at__isnull=True).update(retired_at=timezone.now())
    return inbound_token_issue(partner=partner, kind=TokenKind.INITIAL)


def outbox_enqueue(
    *,
    partner: Partner | None,
    message_type: str,
    body: dict | list | None,
    correlation_id: str = "",
    request_id: str | None = None,
    group=None,
    webhook=None,
    sealed_body: str = "",
    deadline=None,
) -> Message:
    """Write an outbound message in the caller's transaction; queue its sending on commit.

    ``body`` is what the message log shows (masked); ``sealed_body`` (encrypted) is sent instead
    when the real body carries a secret."""
    message = Message.objects.create(
        partner=partner,
        group=group,
        webhook=webhook,
        direction=MessageDirection.OUTBOUND,
        message_type=message_type,
        request_id=request_id or str(uuid.uuid4()),
        correlation_id=correlation_id,
        status=MessageStatus.PENDING,
        body=body,
        sealed_body=sealed_body,
        next_attempt_at=timezone.now(),
        deadline=deadline or timezone.now() + timedelta(seconds=settings.OSCP_MESSAGE_DEADLINE_SECONDS),
    )
    from .tasks import message_send

    transaction.on_commit(lambda: message_send.delay(message.id))
    return message
